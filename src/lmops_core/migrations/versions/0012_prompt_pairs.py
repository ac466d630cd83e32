"""Revision 0012, after 0011: prompts evaluated with a model.

A prompt version gains its system prompt and the model version it targets; evidence gains
``paired_model_version_id``, the model version a result about a prompt was measured with.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    with op.batch_alter_table("prompt_versions") as batch:
        batch.add_column(sa.Column("system_prompt", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("target_model_version_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_prompt_versions_target_model", "model_versions", ["target_model_version_id"], ["id"]
        )
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("paired_model_version_id", sa.Integer, nullable=True))
        batch.create_foreign_key(
            "fk_evidence_paired_model", "model_versions", ["paired_model_version_id"], ["id"]
        )
        batch.create_index("ix_evidence_paired_model_version_id", ["paired_model_version_id"])


def downgrade() -> None:
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index("ix_evidence_paired_model_version_id")
        batch.drop_constraint("fk_evidence_paired_model", type_="foreignkey")
        batch.drop_column("paired_model_version_id")
    with op.batch_alter_table("prompt_versions") as batch:
        batch.drop_constraint("fk_prompt_versions_target_model", type_="foreignkey")
        batch.drop_column("target_model_version_id")
        batch.drop_column("system_prompt")
