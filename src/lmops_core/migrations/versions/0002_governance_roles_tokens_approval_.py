"""Revision 0002, after 0001: governance: roles, tokens, approval requests."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    IndexSpec,
    create_indexes,
    create_table,
    drop_indexes,
    nullable,
    string,
    timestamp,
)

revision = "0002"
down_revision = "0001"

_REQUEST_INDEXES: tuple[IndexSpec, ...] = (
    "version_id",
    ("ix_approval_status_created", ["status", "created_at"]),
)


def upgrade() -> None:
    create_table(
        "api_tokens",
        {
            "id": string(32),
            "user": string(128),
            "secret_hash": string(64),
            "description": string(256),
            "created_by": string(128),
            "created_at": timestamp(),
            "revoked_at": nullable(timestamp()),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("api_tokens", "user")
    create_table(
        "approval_requests",
        {
            "id": string(32),
            "asset_type": string(16),
            "version_id": sa.Integer,
            "ref": string(256),
            "target_stage": string(64),
            "requested_by": string(128),
            "status": string(16),
            "created_at": timestamp(),
            "expires_at": timestamp(),
            "decided_at": nullable(timestamp()),
            "version_digest": string(71),
            "policy_digests": sa.JSON,
            "evidence_digests": sa.JSON,
            "evaluation": sa.JSON,
            "required_approvals": sa.JSON,
            "separation_of_duties": sa.Boolean,
            "snapshot_digest": string(71),
            "reason": nullable(sa.Text),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("approval_requests", *_REQUEST_INDEXES)
    create_table(
        "user_roles",
        {
            "id": sa.Integer,
            "user": string(128),
            "role": string(32),
            "granted_by": string(128),
            "granted_at": timestamp(),
        },
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user", "role", name="uq_user_role"),
    )
    create_indexes("user_roles", "user")
    create_table(
        "approval_decisions",
        {
            "id": sa.Integer,
            "request_id": string(32),
            "actor": string(128),
            "role": string(32),
            "decision": string(16),
            "comment": sa.Text,
            "created_at": timestamp(),
        },
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
