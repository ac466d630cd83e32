"""Revision 0011, after 0010: sample reviews of dataset versions and their verdicts."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations import shapes
from lmops_core.migrations.shapes import nullable, string, timestamp

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    shapes.create_table(
        "sample_reviews",
        {
            "id": string(32),
            "version_id": sa.Integer,
            "ref": string(256),
            "digest": string(71),
            "size": sa.Integer,
            "seed": sa.Integer,
            "stratify": nullable(string(128)),
            "status": string(16),
            "created_by": string(128),
            "created_at": timestamp(),
            "finished_by": nullable(string(128)),
            "finished_at": nullable(timestamp()),
            "result_ref": nullable(string(256)),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    shapes.create_indexes("sample_reviews", "version_id")
    shapes.create_table(
        "sample_review_items",
        {
            "id": sa.Integer,
            "review_id": string(32),
            "record_index": sa.Integer,
            "record_digest": string(71),
            "decision": nullable(string(16)),
            "reason": nullable(sa.Text),
            "decided_by": nullable(string(128)),
            "decided_at": nullable(timestamp()),
        },
        sa.ForeignKeyConstraint(["review_id"], ["sample_reviews.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("review_id", "record_index", name="uq_review_record"),
    )
    shapes.create_indexes("sample_review_items", "review_id")


def downgrade() -> None:
    shapes.drop_indexes("sample_review_items", "review_id")
    op.drop_table("sample_review_items")
    shapes.drop_indexes("sample_reviews", "version_id")
    op.drop_table("sample_reviews")
