"""Provenance: lineage edges between versions, and the runs that made them."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import and_, select
from sqlmodel import Session, col

from lmops_core.errors import ValidationError
from lmops_core.registry.models import LineageEdge, Run
from lmops_core.registry.store.refs import ref_of
from lmops_core.registry.store.writer import AuditWriter


def add_lineage(
    session: Session,
    audit: AuditWriter,
    *,
    child_type: str,
    child: Any,
    parent_type: str,
    parent: Any,
    relation: str = "derived_from",
    run_id: str | None = None,
) -> None:
    """Record that ``child`` was derived from ``parent``."""
    if child_type == parent_type and child.id == parent.id:
        raise ValidationError("a version cannot be derived from itself", field="lineage")
    session.add(
        LineageEdge(
            child_type=child_type,
            child_id=child.id,
            parent_type=parent_type,
            parent_id=parent.id,
            relation=relation,
            run_id=run_id,
        )
    )
    session.flush()
    audit.record(
        session,
        "lineage.add",
        ref_of(session, child_type, child),
        after={
            "parent": ref_of(session, parent_type, parent),
            "relation": relation,
            "run_id": run_id,
        },
    )


def lineage_edges(
    session: Session, asset_type: str, version_id: int, direction: Literal["up", "down"] = "up"
) -> list[LineageEdge]:
    """The lineage edges to a version's parents (``up``) or children (``down``)."""
    if direction == "up":
        cond = and_(
            col(LineageEdge.child_type) == asset_type, col(LineageEdge.child_id) == version_id
        )
    else:
        cond = and_(
            col(LineageEdge.parent_type) == asset_type, col(LineageEdge.parent_id) == version_id
        )
    return list(
        session.execute(select(LineageEdge).where(cond).order_by(col(LineageEdge.id))).scalars()
    )


def record_run(session: Session, audit: AuditWriter, run: Run) -> Run:
    """Insert a finished (succeeded or failed) run and audit it."""
    session.add(run)
    session.flush()
    audit.record(
        session,
        f"run.{run.status}",
        f"run:{run.id}",
        after={
            "stage": run.stage,
            "operation": run.operation,
            "plugin": run.plugin,
            "inputs": run.inputs,
            "error": run.error,
        },
    )
    return run
