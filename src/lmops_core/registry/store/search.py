"""Searching versions by name, kind, stage, tags and metric thresholds."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from lmops_core.contracts import AssetType
from lmops_core.errors import ValidationError
from lmops_core.registry.models import VersionMetric, VersionTag
from lmops_core.registry.names import normalize_name
from lmops_core.registry.store.tables import asset_classes

_OPS = {
    ">=": "__ge__",
    "<=": "__le__",
    ">": "__gt__",
    "<": "__lt__",
    "==": "__eq__",
    "!=": "__ne__",
}


@dataclass(frozen=True)
class MetricFilter:
    """``key op value`` over indexed version metrics, e.g. ``eval.acc >= 0.6``."""

    key: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> MetricFilter:
        for op in (">=", "<=", "==", "!=", ">", "<"):
            if op in text:
                key, _, raw = text.partition(op)
                try:
                    return cls(key.strip(), op, float(raw))
                except ValueError:
                    break
        raise ValidationError(
            f"invalid metric filter {text!r}: expected KEY OP NUMBER, e.g. 'eval.acc>=0.6'",
            field="metric",
        )


def search_versions(
    session: Session,
    asset_type: AssetType,
    *,
    name: str | None = None,
    kind: str | None = None,
    stage: str | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Sequence[MetricFilter] = (),
    limit: int = 100,
    offset: int = 0,
) -> list[tuple[Any, Any]]:
    """Versions matching every given filter, newest first, as ``(asset, version)``."""
    asset_cls, version_cls, fk = asset_classes(asset_type)
    q = select(asset_cls, version_cls).join(asset_cls, getattr(version_cls, fk) == asset_cls.id)
    if name and "*" in name:
        # Wildcards match normalised names: fold separators and case like normalize_name.
        pattern = re.sub(r"[._-]+", "-", name.lower()).replace("*", "%")
        q = q.where(asset_cls.normalized_name.like(pattern))
    elif name:
        q = q.where(asset_cls.normalized_name == normalize_name(name))
    if kind:
        column = (
            version_cls.shape if asset_type == "dataset" else getattr(version_cls, "kind", None)
        )
        if column is None:
            raise ValidationError(f"{asset_type} versions have no kind", field="kind")
        q = q.where(column == kind)
    if stage:
        q = q.where(version_cls.stage == stage)
    # Correlated EXISTS probes, not IN (subquery): walking versions newest first and
    # probing an index per row stops after `limit` matches, where IN would first
    # materialise every matching metric row (tens of thousands for 'acc >= 0.5').
    for key, value in (tags or {}).items():
        q = q.where(
            select(col(VersionTag.id))
            .where(
                col(VersionTag.subject_type) == asset_type,
                col(VersionTag.subject_id) == version_cls.id,
                col(VersionTag.key) == key,
                col(VersionTag.value) == value,
            )
            .exists()
        )
    for mf in metrics:
        if mf.op not in _OPS:
            raise ValidationError(f"invalid metric operator {mf.op!r}", field="metric")
        cmp = getattr(VersionMetric.value, _OPS[mf.op])(mf.value)
        q = q.where(
            select(col(VersionMetric.id))
            .where(
                col(VersionMetric.subject_type) == asset_type,
                col(VersionMetric.subject_id) == version_cls.id,
                col(VersionMetric.key) == mf.key,
                cmp,
            )
            .exists()
        )
    q = q.order_by(version_cls.id.desc()).limit(max(1, min(limit, 10_000))).offset(max(0, offset))
    return [(a, v) for a, v in session.execute(q).all()]
