"""What a report section is built from, for the core's sections and plugins' alike.

A plugin adding a section through ``lmops_report_sections`` imports its blocks
and formatting helpers from here, so every section writes values, times and
evidence captions the same way (and the report digest stays stable).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lmops_core.reports.document import (
    NONE_RECORDED,
    Block,
    ReportSection,
    Series,
    Table,
    Text,
)

if TYPE_CHECKING:
    from lmops_core.registry.schemas import EvidencePublic


def fmt_time(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC`` (stored naive times are UTC)."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_value(value: Any) -> str:
    """A metric or parameter value as stable text (floats to 6 significant digits)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int | str):
        return str(value)
    if value is None:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def numbers_only(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric metrics only.

    Data evidence is shown as counts and rates only: a string metric could in
    principle quote a record, and the report must never carry dataset contents.
    """
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def metrics_table(
    metrics: Mapping[str, Any], caption: str, columns: tuple[str, str] = ("metric", "value")
) -> Table:
    """A two-column table of ``metrics``, sorted by name."""
    return Table(
        columns=columns,
        caption=caption,
        rows=tuple((k, fmt_value(metrics[k])) for k in sorted(metrics)),
    )


# ``evidence.<kind>.metrics.<name>`` inside a policy condition.
_METRIC_REF = re.compile(
    r"evidence\.([A-Za-z0-9_\-]+)\.metrics\.([A-Za-z0-9_.\-]+?)"
    r"(?=\s|$|[<>=!)\],])"
)


def measured_values(
    expression: str | None, metrics_of: Mapping[str, Mapping[str, Any]], *, none: str = "none"
) -> str:
    """``kind.metric = value`` for every evidence metric a policy condition reads.

    ``metrics_of`` maps an evidence kind to the metrics of its newest record on
    the version; a metric with no value reads ``none`` (the word given). Shown beside
    the condition (its threshold) wherever a rule outcome is explained.
    """
    if not expression:
        return ""
    parts = []
    for kind, metric in dict.fromkeys(_METRIC_REF.findall(expression)):
        value = (metrics_of.get(kind) or {}).get(metric)
        parts.append(f"{kind}.{metric} = {fmt_value(value) if value is not None else none}")
    return "; ".join(parts)


def evidence_caption(e: EvidencePublic) -> str:
    """Who recorded evidence ``e``, on what, when, and its digest."""
    return (
        f"{e.kind} evidence on {e.subject} by {e.plugin}, recorded {fmt_time(e.created_at)} "
        f"by {e.created_by} ({e.digest})"
    )


__all__ = [
    "NONE_RECORDED",
    "Block",
    "ReportSection",
    "Series",
    "Table",
    "Text",
    "evidence_caption",
    "fmt_time",
    "fmt_value",
    "measured_values",
    "metrics_table",
    "numbers_only",
]
