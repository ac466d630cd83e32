"""What the governance layer hands out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr


def aware(value: datetime) -> datetime:
    """``value`` with a time zone (rows read back from SQLite come without one: UTC)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


#: A time as the governance layer hands it out: always with its time zone.
AwareDatetime = Annotated[datetime, AfterValidator(aware)]


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class DecisionPublic(_Public):
    """One reviewer's decision on a request."""

    actor: str
    role: str
    decision: str
    comment: str
    created_at: AwareDatetime
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
    created_at: AwareDatetime
    expires_at: AwareDatetime
    decided_at: AwareDatetime | None
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
