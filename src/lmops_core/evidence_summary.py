"""One line per piece of evidence: its kind's headline metrics, whoever declared the kind.

Pipeline summaries, ``lmops stage`` output and the validation report show
evidence through what its kind declares (:class:`~lmops_core.contracts.Metric`
with ``headline=True``), so the core shows a third party's results exactly as
it shows its own, and names no plugin's kind or metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmops_core.contracts import EvidenceKind

#: How many numeric metrics stand in for the headline of an undeclared kind.
FALLBACK_METRICS = 6


def headline_metrics(
    kind: EvidenceKind | None, metrics: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """The ``(name, value)`` pairs worth showing for evidence of ``kind``.

    The kind's headline metrics that the evidence carries, in declaration
    order; for a kind that is undeclared or declares no headline, the first
    few numeric metrics, so nothing recorded is ever summarised as blank.
    """
    if kind is not None and kind.headline:
        return [(name, metrics[name]) for name in kind.headline if name in metrics]
    numeric = [
        (k, v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return numeric[:FALLBACK_METRICS]


def format_value(value: Any) -> str:
    """A metric value as short text (floats to 4 significant digits)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summarize_metrics(
    kind: str, metrics: Mapping[str, Any], *, kinds: Mapping[str, EvidenceKind] | None = None
) -> dict[str, Any]:
    """The headline metrics of evidence of ``kind``, as ``{name: value}`` in display order.

    ``kinds`` maps kind names to their declarations (the plugin host's
    evidence kinds); without it, or for an undeclared kind, the first numeric
    metrics stand in. ``lmops stage``, ``--json`` evidence and pipeline
    summaries all go through here, so every account agrees.
    """
    return dict(headline_metrics((kinds or {}).get(kind), metrics))


def format_metrics(
    kind: str, metrics: Mapping[str, Any], *, kinds: Mapping[str, EvidenceKind] | None = None
) -> str:
    """``name=value, ...`` of :func:`summarize_metrics`, for one-line accounts."""
    return ", ".join(
        f"{name}={format_value(value)}"
        for name, value in summarize_metrics(kind, metrics, kinds=kinds).items()
    )


__all__ = [
    "FALLBACK_METRICS",
    "format_metrics",
    "format_value",
    "headline_metrics",
    "summarize_metrics",
]
