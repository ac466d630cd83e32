"""Revision 0010, after 0009: the retraining loop: breach evidence on requests, attempts.

``training_requests`` gains the breach's evidence, the pipeline the policy names and who
closed it. ``retraining_attempts`` records each run of a retraining pipeline; the partial
unique index ``uq_retraining_in_flight`` lets one attempt per model be in flight.
"""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations import shapes
from lmops_core.migrations.shapes import ColumnType, nullable, string, timestamp

revision = "0010"
down_revision = "0009"

_REQUEST_COLUMNS: dict[str, ColumnType] = {
    "evidence": sa.JSON,
    "pipeline": sa.Text,
    "closed_by": string(128),
    "closed_at": timestamp(),
    "close_comment": sa.Text,
}
_ATTEMPT_INDEXES = ("request_id", ("ix_retraining_model_started", ["model", "started_at"]))


def upgrade() -> None:
    with op.batch_alter_table("training_requests") as batch:
        for name, kind in _REQUEST_COLUMNS.items():
            batch.add_column(sa.Column(name, kind, nullable=True))
    shapes.create_table(
        "retraining_attempts",
        {
            "id": string(32),
            "request_id": string(32),
            "model": string(128),
            "state": string(16),
            "pipeline": sa.Text,
            "window": nullable(string(256)),
            "started_by": string(128),
            "started_at": timestamp(),
            "finished_at": nullable(timestamp()),
            "failure": nullable(sa.Text),
            "waiting_for": nullable(string(32)),
            "results": sa.JSON,
            "candidate": nullable(string(256)),
            "promotion_request": nullable(string(32)),
        },
        sa.ForeignKeyConstraint(["request_id"], ["training_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    shapes.create_indexes("retraining_attempts", *_ATTEMPT_INDEXES)
    where = "state IN ('running', 'waiting')"
    op.create_index(
        "uq_retraining_in_flight",
        "retraining_attempts",
        ["model"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def downgrade() -> None:
    op.drop_index("uq_retraining_in_flight", table_name="retraining_attempts")
    shapes.drop_indexes("retraining_attempts", *_ATTEMPT_INDEXES)
    op.drop_table("retraining_attempts")
    with op.batch_alter_table("training_requests") as batch:
        for name in reversed(_REQUEST_COLUMNS):
            batch.drop_column(name)
