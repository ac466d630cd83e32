"""What the governance layer hands out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class DecisionPublic(_Public):
    """One reviewer's decision on a request."""

    actor: str
    role: str
    decision: str
    comment: str
    created_at: datetime
    auth_method: str | None = None
    key_fingerprint: str | None = None
    statement: str | None = None
    signature: str | None = None


class ApprovalRequestPublic(_Public):
    """A promotion request and where it stands."""

    id: str
    asset_type: str
    ref: str
    target_stage: str
    requested_by: str
    status: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    version_digest: str
    policy_digests: dict[str, str]
    required_approvals: dict[str, int]
    approvals_so_far: dict[str, int]
    separation_of_duties: bool
    snapshot_digest: str
    reason: str | None
    decisions: list[DecisionPublic]


class ApprovalRequestDetail(ApprovalRequestPublic):
    """A request with its frozen evaluation, the evidence, and the version it would replace."""

    evaluation: dict[str, Any]
    evidence: list[dict[str, Any]]
    current_in_stage: dict[str, Any] | None


class Page(_Public):
    """One page of a listing."""

    items: list[ApprovalRequestPublic]
    total: int
    limit: int
    offset: int


class Principal(_Public):
    """Who is calling, as established by an API token (or the SDK's actor)."""

    user: str
    roles: frozenset[str]
    token_id: str | None = None
    #: The token that authenticated the caller; never serialised, needed to act as them.
    token: SecretStr | None = Field(default=None, exclude=True, repr=False)
