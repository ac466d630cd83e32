"""Revision 0006, after 0005: only-one rules enforced by the database; 64-bit audit sequence.

Partial unique indexes, so that racing writers (PostgreSQL runs them truly in
parallel) cannot break a rule that a check-then-insert only enforces when
writers are serialised:

- ``uq_approval_pending``: one pending approval request per version and target stage;
- ``uq_<asset>_versions_stage``: one version of an asset holds each stage (one
  ``production`` model version per model, and so on);
- ``uq_training_request_open``: one open retraining request per monitored version.

``audit_events.seq`` and ``audit_head.seq`` become ``BIGINT`` on PostgreSQL
(SQLite integers are already 64-bit, and ``INTEGER PRIMARY KEY`` there is the rowid).

Rows that already break a rule (left by the race this revision closes) are
resolved before the index is built, failing closed, without deleting anything:

- duplicate pending requests: the request with the most approvals is kept (ties: the
  oldest, then the smallest id); the others become ``invalidated`` with a reason naming
  the kept request, so reviewers decide on one request only;
- several versions of one asset in the same stage: the version whose newest ``promotion``
  evidence is the latest keeps the stage (ties: the highest version number), as if the
  promotions had run one after the other; the others leave the stage (``stage`` becomes
  NULL) and are marked ``revalidation-required``;
- duplicate open training requests: the oldest stays open, the others become ``superseded``.

No audit events are written here (a migration does not hold the audit key); every
change is visible in the rows themselves (status and reason).
"""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

_VERSION_TABLES = (
    ("dataset_versions", "dataset_id", "dataset"),
    ("model_versions", "model_id", "model"),
    ("prompt_versions", "prompt_id", "prompt"),
    ("suite_versions", "suite_id", "suite"),
)


def _partial_unique(name: str, table: str, columns: list[str], where: str) -> None:
    op.create_index(
        name,
        table,
        columns,
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    conn = op.get_bind()
    now = datetime.now(UTC)
    _resolve_pending_requests(conn, now)
    _partial_unique(
        "uq_approval_pending",
        "approval_requests",
        ["asset_type", "version_id", "target_stage"],
        "status = 'pending'",
    )
    for table, fk, asset_type in _VERSION_TABLES:
        _resolve_stage_holders(conn, table, fk, asset_type)
        _partial_unique(f"uq_{table}_stage", table, [fk, "stage"], "stage IS NOT NULL")
    _resolve_training_requests(conn)
    _partial_unique("uq_training_request_open", "training_requests", ["ref"], "status = 'open'")
    if conn.dialect.name == "postgresql":
        op.alter_column("audit_events", "seq", type_=sa.BigInteger(), existing_nullable=False)
        op.alter_column("audit_head", "seq", type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("audit_head", "seq", type_=sa.Integer(), existing_nullable=False)
        op.alter_column("audit_events", "seq", type_=sa.Integer(), existing_nullable=False)
    op.drop_index("uq_training_request_open", table_name="training_requests")
    for table, _, _ in reversed(_VERSION_TABLES):
        op.drop_index(f"uq_{table}_stage", table_name=table)
    op.drop_index("uq_approval_pending", table_name="approval_requests")


def _resolve_pending_requests(conn: Any, now: datetime) -> None:
    rows = conn.execute(
        sa.text(
            "SELECT r.id, r.asset_type, r.version_id, r.target_stage, r.created_at, "
            "(SELECT COUNT(*) FROM approval_decisions d WHERE d.request_id = r.id "
            " AND d.decision = 'approve') AS approvals "
            "FROM approval_requests r WHERE r.status = 'pending'"
        )
    ).all()
    groups: dict[tuple[str, int, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.asset_type, row.version_id, row.target_stage)].append(row)
    for dupes in groups.values():
        if len(dupes) < 2:
            continue
        dupes.sort(key=lambda r: (-r.approvals, str(r.created_at), r.id))
        kept = dupes[0].id
        for loser in dupes[1:]:
            conn.execute(
                sa.text(
                    "UPDATE approval_requests SET status = 'invalidated', decided_at = :now, "
                    "reason = :reason WHERE id = :id"
                ),
                {
                    "now": now,
                    "id": loser.id,
                    "reason": "duplicate pending request for the same version and stage; "
                    f"request {kept} stays pending (migration 0006)",
                },
            )


def _resolve_stage_holders(conn: Any, table: str, fk: str, asset_type: str) -> None:
    rows = conn.execute(
        sa.text(
            f"SELECT v.id, v.{fk} AS asset_id, v.stage, v.version, "  # noqa: S608 - fixed names
            "(SELECT MAX(e.created_at) FROM evidence e WHERE e.subject_type = :typ "
            " AND e.subject_id = v.id AND e.kind = 'promotion') AS promoted_at "
            f"FROM {table} v WHERE v.stage IS NOT NULL"
        ),
        {"typ": asset_type},
    ).all()
    groups: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.asset_id, row.stage)].append(row)
    for holders in groups.values():
        if len(holders) < 2:
            continue
        holders.sort(key=lambda r: (str(r.promoted_at or ""), r.version), reverse=True)
        for loser in holders[1:]:
            conn.execute(
                sa.text(
                    f"UPDATE {table} SET stage = NULL, "  # noqa: S608 - fixed names
                    "status = 'revalidation-required' WHERE id = :id"
                ),
                {"id": loser.id},
            )


def _resolve_training_requests(conn: Any) -> None:
    rows = conn.execute(
        sa.text("SELECT id, ref, created_at FROM training_requests WHERE status = 'open'")
    ).all()
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        groups[row.ref].append(row)
    for dupes in groups.values():
        dupes.sort(key=lambda r: (str(r.created_at), r.id))
        for loser in dupes[1:]:
            conn.execute(
                sa.text("UPDATE training_requests SET status = 'superseded' WHERE id = :id"),
                {"id": loser.id},
            )
