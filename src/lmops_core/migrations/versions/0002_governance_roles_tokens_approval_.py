"""Revision 0002, after 0001: governance: roles, tokens, approval requests."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import IndexSpec, create_indexes, drop_indexes, string

revision = "0002"
down_revision = "0001"

_REQUEST_INDEXES: tuple[IndexSpec, ...] = (
    "version_id",
    ("ix_approval_status_created", ["status", "created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", string(32), nullable=False),
        sa.Column("user", string(128), nullable=False),
        sa.Column("secret_hash", string(64), nullable=False),
        sa.Column("description", string(256), nullable=False),
        sa.Column("created_by", string(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("api_tokens", "user")
    op.create_table(
        "approval_requests",
        sa.Column("id", string(32), nullable=False),
        sa.Column("asset_type", string(16), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("ref", string(256), nullable=False),
        sa.Column("target_stage", string(64), nullable=False),
        sa.Column("requested_by", string(128), nullable=False),
        sa.Column("status", string(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version_digest", string(71), nullable=False),
        sa.Column("policy_digests", sa.JSON(), nullable=False),
        sa.Column("evidence_digests", sa.JSON(), nullable=False),
        sa.Column("evaluation", sa.JSON(), nullable=False),
        sa.Column("required_approvals", sa.JSON(), nullable=False),
        sa.Column("separation_of_duties", sa.Boolean(), nullable=False),
        sa.Column("snapshot_digest", string(71), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("approval_requests", *_REQUEST_INDEXES)
    op.create_table(
        "user_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", string(128), nullable=False),
        sa.Column("role", string(32), nullable=False),
        sa.Column("granted_by", string(128), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user", "role", name="uq_user_role"),
    )
    create_indexes("user_roles", "user")
    op.create_table(
        "approval_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", string(32), nullable=False),
        sa.Column("actor", string(128), nullable=False),
        sa.Column("role", string(32), nullable=False),
        sa.Column("decision", string(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "actor", name="uq_decision_actor"),
    )
    create_indexes("approval_decisions", "request_id")


def downgrade() -> None:
    drop_indexes("approval_decisions", "request_id")
    op.drop_table("approval_decisions")
    drop_indexes("user_roles", "user")
    op.drop_table("user_roles")
    drop_indexes("approval_requests", *reversed(_REQUEST_INDEXES))
    op.drop_table("approval_requests")
    drop_indexes("api_tokens", "user")
    op.drop_table("api_tokens")
