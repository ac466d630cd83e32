"""Tables of the governance layer: roles, API tokens, approval requests and decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from lmops_core.registry.models import utcnow
from lmops_core.vocabulary import REQUEST_STATUSES as REQUEST_STATUSES
from lmops_core.vocabulary import ROLES as ROLES


def _ts(nullable: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


def _unique_where(name: str, *columns: str, where: str) -> Index:
    """A unique index over ``columns`` that covers only the rows ``where`` holds for
    (a partial index, the same on SQLite and PostgreSQL)."""
    return Index(
        name, *columns, unique=True, sqlite_where=text(where), postgresql_where=text(where)
    )


class UserRole(SQLModel, table=True):
    """A role held by a user; granted and revoked by admins, audited."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user", "role", name="uq_user_role"),)
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(max_length=128, index=True)
    role: str = Field(max_length=32)
    granted_by: str = Field(max_length=128)
    granted_at: datetime = _ts()


class ApiToken(SQLModel, table=True):
    """A bearer token for the admin API; only a hash of its secret is stored."""

    __tablename__ = "api_tokens"
    id: str = Field(primary_key=True, max_length=32)
    user: str = Field(max_length=128, index=True)
    secret_hash: str = Field(max_length=64)
    description: str = Field(default="", max_length=256)
    created_by: str = Field(max_length=128)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)


class ConsoleSignIn(SQLModel, table=True):
    """A console sign-in, shared by every server process (``lmops_core.api.sessions``).

    The row is found by a digest of the browser's session id, which the store never
    holds; the token it acts with is named by id and its bearer value is kept only
    sealed under a key derived from that session id, so neither the database nor
    the cookie alone yields the token. Deleting the row signs the browser out.
    """

    __tablename__ = "console_sessions"
    #: SHA-256 of the session id, hex.
    id: str = Field(primary_key=True, max_length=64)
    user: str = Field(max_length=128, index=True)
    token_id: str = Field(max_length=32, index=True)
    #: The bearer token, AES-GCM sealed (nonce + ciphertext, hex).
    sealed_token: str = Field(max_length=512)
    created_at: datetime = _ts()
    expires_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, index=True)
    )


class ApprovalRequest(SQLModel, table=True):
    """A request to move one version into a stage, with the frozen snapshot it was judged on."""

    __tablename__ = "approval_requests"
    __table_args__ = (
        Index("ix_approval_status_created", "status", "created_at"),
        # At most one pending request per version and target stage, enforced by the
        # database so that two people asking at the same instant cannot both succeed.
        _unique_where(
            "uq_approval_pending",
            "asset_type",
            "version_id",
            "target_stage",
            where="status = 'pending'",
        ),
    )
    id: str = Field(primary_key=True, max_length=32)
    asset_type: str = Field(max_length=16)
    version_id: int = Field(index=True)
    ref: str = Field(max_length=256)
    target_stage: str = Field(max_length=64)
    requested_by: str = Field(max_length=128)
    status: str = Field(max_length=16)
    created_at: datetime = _ts()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    decided_at: datetime | None = _ts(nullable=True)
    version_digest: str = Field(max_length=71)
    policy_digests: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    evidence_digests: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    evaluation: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    required_approvals: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    separation_of_duties: bool = True
    snapshot_digest: str = Field(max_length=71)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ApprovalDecision(SQLModel, table=True):
    """One reviewer's approval or rejection of a request; one per reviewer per request."""

    __tablename__ = "approval_decisions"
    __table_args__ = (UniqueConstraint("request_id", "actor", name="uq_decision_actor"),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="approval_requests.id", index=True, max_length=32)
    actor: str = Field(max_length=128)
    role: str = Field(max_length=32)
    decision: str = Field(max_length=16)
    comment: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _ts()
    #: The canonical statement that was signed (JSON text), its Ed25519 signature (base64),
    #: the signing key's fingerprint and how the actor was authenticated.
    statement: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    signature: str | None = Field(default=None, max_length=128)
    key_fingerprint: str | None = Field(default=None, max_length=64)
    auth_method: str | None = Field(default=None, max_length=16)


class SigningKey(SQLModel, table=True):
    """A person's registered Ed25519 public key; at most one active key per user.

    ``registration`` is the canonical statement by which an admin registered
    the key, signed (``registration_signature``) by the admin's credential, so a
    key row written straight into the database does not verify.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (
        _unique_where("uq_signing_key_active_user", "user", where="revoked_at IS NULL"),
    )
    fingerprint: str = Field(primary_key=True, max_length=64)
    user: str = Field(max_length=128)
    public_key: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=128)
    created_at: datetime = _ts()
    revoked_at: datetime | None = _ts(nullable=True)
    registration: str = Field(sa_column=Column(Text, nullable=False))
    registration_signature: str = Field(max_length=128)
    registration_key: str = Field(max_length=64)


class TrainingRequest(SQLModel, table=True):
    """A request to retrain, opened by a monitoring breach; never deploys anything by itself.

    It stays ``open`` until a person closes it (``lmops retrain close``), whatever its
    retrainings (:class:`RetrainingAttempt`) did: a failed one leaves it open.
    """

    __tablename__ = "training_requests"
    # One open retraining request per monitored version.
    __table_args__ = (_unique_where("uq_training_request_open", "ref", where="status = 'open'"),)
    id: str = Field(primary_key=True, max_length=32)
    ref: str = Field(max_length=256, index=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=16)
    created_by: str = Field(max_length=128)
    created_at: datetime = _ts()
    #: The breach: the window monitored, the evidence that breached, the rules' reasons.
    evidence: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: The retraining pipeline the policy names (absolute path), if it names one.
    pipeline: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    closed_by: str | None = Field(default=None, max_length=128)
    closed_at: datetime | None = _ts(nullable=True)
    close_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class RetrainingAttempt(SQLModel, table=True):
    """One run of a retraining pipeline for a request; audited step by step.

    ``state`` is ``running``, ``waiting`` (for a person's decision on a request it
    opened), ``succeeded`` (a promotion request is pending for people), ``failed``
    or ``abandoned``. The partial unique index lets at most one attempt per model be
    in flight: a second breach during a retraining cannot start another.
    """

    __tablename__ = "retraining_attempts"
    __table_args__ = (
        _unique_where("uq_retraining_in_flight", "model", where="state IN ('running', 'waiting')"),
        Index("ix_retraining_model_started", "model", "started_at"),
    )
    id: str = Field(primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="training_requests.id", index=True, max_length=32)
    #: The model's name: retrainings of any of its versions share the guard rails.
    model: str = Field(max_length=128)
    state: str = Field(max_length=16)
    pipeline: str = Field(sa_column=Column(Text, nullable=False))
    window: str | None = Field(default=None, max_length=256)
    started_by: str = Field(max_length=128)
    started_at: datetime = _ts()
    finished_at: datetime | None = _ts(nullable=True)
    failure: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: The approval request the attempt waits on (the fresh data's approval for training).
    waiting_for: str | None = Field(default=None, max_length=32)
    #: What each finished step produced (``{step: {value, outputs}}``), to resume after a wait.
    results: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    candidate: str | None = Field(default=None, max_length=256)
    promotion_request: str | None = Field(default=None, max_length=32)
    #: The lease of the process running the attempt: its host and pid, a lease id and an
    #: expiry it renews while it works. A lease that lapsed, or whose process on this host
    #: is gone, marks a crashed attempt that the next breach or resume takes over.
    owner_host: str | None = Field(default=None, max_length=255)
    owner_pid: int | None = None
    lease_id: str | None = Field(default=None, max_length=32)
    lease_expires_at: datetime | None = _ts(nullable=True)
