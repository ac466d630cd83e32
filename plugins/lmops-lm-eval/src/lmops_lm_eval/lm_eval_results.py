"""Turning lm-eval's result dictionary into flat evidence metrics.

lm-eval keys each number ``"<metric>,<filter>"`` (e.g. ``"acc,none"``,
``"acc_stderr,none"``, ``"exact_match,strict-match"``). Flattened, a number of
task T becomes ``T.<metric>`` when the filter is ``none`` and
``T.<metric>_<filter>`` otherwise; stderr keys keep ``_stderr`` last
(``T.exact_match_strict-match_stderr``). Values are lm-eval's own, unrounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRIMARY_METRICS = ("acc", "exact_match", "acc_norm")
"""Accuracy-like metrics, in order of preference, for a task's primary metric.

The aggregate ``acc`` of ``eval`` evidence is the unweighted mean, over the
leaf tasks that report one, of the first of these each task reports (filter
``none`` first, else the alphabetically first filter).
"""

_ROW_INFO = {"name", "alias", "sample_len", " "}


def flat_name(key: str) -> str | None:
    """``"acc_stderr,none"`` -> ``"acc_stderr"``; ``None`` for keys that are not metrics."""
    if "," not in key:
        return None
    metric, filt = key.split(",", 1)
    if filt == "none":
        return metric
    if metric.endswith("_stderr"):
        return f"{metric[: -len('_stderr')]}_{filt}_stderr"
    return f"{metric}_{filt}"


def flatten_results(results: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, float], list[str]]:
    """Flat ``{"<task>.<metric>": value}`` of every numeric metric, and the skipped keys.

    lm-eval writes ``"N/A"`` for a stderr it could not compute; such values are
    skipped (and listed) rather than stored as strings policies cannot compare.
    """
    flat: dict[str, float] = {}
    skipped: list[str] = []
    for task, row in results.items():
        for key, value in row.items():
            if key in _ROW_INFO:
                continue
            name = flat_name(key)
            if name is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                skipped.append(f"{task}.{name}={value!r}")
                continue
            flat[f"{task}.{name}"] = float(value)
    return flat, skipped


def primary_metric(row: Mapping[str, Any]) -> tuple[str, float] | None:
    """The (lm-eval key, value) of a task's primary accuracy-like metric, if any."""
    for metric in PRIMARY_METRICS:
        keys = sorted(k for k in row if k.split(",", 1)[0] == metric and "," in k)
        keys.sort(key=lambda k: k != f"{metric},none")
        for key in keys:
            value = row[key]
            if isinstance(value, int | float) and not isinstance(value, bool):
                return key, float(value)
    return None
