"""Revision 0009, after 0008: partitioned dataset versions: the manifest artifact of each.

``digest`` of a partitioned dataset version is the Merkle root over its partitions; the
manifest that lists them is an artifact of its own, named here (NULL for single-file versions).
"""

from alembic import op

from lmops_core.migrations.shapes import columns, nullable, string

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        for column in columns({"manifest_digest": nullable(string(71))}):
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("manifest_digest")
