"""Writing a decision's rows: the decision and its evidence, in as few round trips as the
backend allows.

On PostgreSQL both rows go in one statement (the decision's insert is a data-modifying
CTE of the evidence's), which also locks and reads the audit chain's head in its
``RETURNING`` (after the rows, so every writer takes the request's lock, then the head's),
unless the transaction already holds it: the decision's audit events then follow with the
``COMMIT`` in one more round trip (:mod:`lmops_core.audit.postgres`). Each round trip made
while the request and the head are locked costs every writer queued behind them. On
SQLite, where a statement is a function call, they are two plain inserts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session

from lmops_core.audit import postgres as audit_postgres
from lmops_core.governance.models import ApprovalDecision
from lmops_core.registry.models import Evidence
from lmops_core.registry.store import AuditWriter
from lmops_core.registry.store.writer import locked_head_columns

_DECISIONS = ApprovalDecision.__table__  # type: ignore[attr-defined]
_EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
_INSERT_DECISION = insert(_DECISIONS)
_INSERT_EVIDENCE = insert(_EVIDENCE).returning(_EVIDENCE.c.id)


@functools.cache
def _insert_both_pg(decision: tuple[str, ...], evidence: tuple[str, ...], held: bool) -> Insert:
    """The one statement of :func:`insert_decision` on PostgreSQL, built once per shape
    (building one costs more than running it): parameters ``d_<column>`` for the decision,
    ``e_<column>`` for the evidence; returns the evidence's id, then the head's seq, hash
    and signature unless ``held``."""
    decided = (
        insert(_DECISIONS)
        .values({c: bindparam(f"d_{c}", type_=_DECISIONS.c[c].type) for c in decision})
        .cte("decided")
    )
    stmt = (
        insert(_EVIDENCE)
        .values({c: bindparam(f"e_{c}", type_=_EVIDENCE.c[c].type) for c in evidence})
        .add_cte(decided)
    )
    returning: list[Any] = [_EVIDENCE.c.id]
    if not held:
        returning += locked_head_columns()
    return stmt.returning(*returning)


def insert_decision(
    s: Session,
    audit: AuditWriter,
    decision: Mapping[str, Any],
    evidence: Mapping[str, Any],
) -> int:
    """Insert the ``decision`` row (column values of ``approval_decisions``) and its
    ``evidence`` row (as :func:`~lmops_core.registry.store.evidence_values` made them);
    the evidence's id. On PostgreSQL the head of the audit chain that ``audit`` extends is
    locked and checked too (refused, nothing written, unless it verifies)."""
    conn = s.connection()
    if conn.dialect.name != "postgresql":
        conn.execute(_INSERT_DECISION, dict(decision))
        return int(conn.execute(_INSERT_EVIDENCE, dict(evidence)).scalar_one())
    held = audit_postgres.holds_head(s)
    stmt = _insert_both_pg(tuple(decision), tuple(evidence), held)
    params = {f"d_{k}": v for k, v in decision.items()} | {f"e_{k}": v for k, v in evidence.items()}
    try:
        row = conn.execute(stmt, params).one()
    except sa_exc.ProgrammingError as exc:  # a dropped audit table: a verdict, not a traceback
        if held:
            raise
        audit_postgres.refuse_unreadable(exc, audit.anchor)
    if not held:
        audit_postgres.adopt_locked_head(s, row[1:], key=audit.key, anchor=audit.anchor)
    return int(row[0])


__all__ = ["insert_decision"]
