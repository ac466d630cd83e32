"""The few metrics that say what an evidence record found, for one-line accounts.

``lmops stage`` ends with them, so a reader sees what was recorded without
opening the evidence. One function decides, so every account agrees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: At most this many metrics make the headline of one record.
MAX_HEADLINE = 6


def _is_scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str)


def summarize_metrics(kind: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The headline metrics of an evidence record of ``kind``: up to six scalars.

    For now the first :data:`MAX_HEADLINE` metrics whose values are numbers,
    booleans or strings, in the order the plugin recorded them; lists, mappings
    and ``None`` are left out. ``kind`` names the evidence kind, so that the
    metrics a kind declares as its headline can be preferred.
    """
    del kind  # not used yet: every kind is summarised the same way
    out: dict[str, Any] = {}
    for name, value in metrics.items():
        if len(out) >= MAX_HEADLINE:
            break
        if _is_scalar(value):
            out[str(name)] = value
    return out
