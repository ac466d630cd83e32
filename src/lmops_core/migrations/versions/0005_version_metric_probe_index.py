"""Revision 0005, after 0004: version metrics: a probe index for threshold search."""

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("version_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_version_metric_subject")
        batch_op.create_index(
            "ix_version_metric_probe", ["subject_type", "subject_id", "key", "value"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("version_metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_version_metric_probe")
        batch_op.create_index(
            "ix_version_metric_subject", ["subject_type", "subject_id"], unique=False
        )
