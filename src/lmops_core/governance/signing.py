"""Signed statements: every approval, rejection and key registration, checkable by anyone.

A statement is canonical JSON (sorted keys, no spaces). Its Ed25519 signature
is made by the actor's personal key when they decided with it, otherwise by
the server's key (the bundle key store's active key) attesting the user the
server authenticated (``auth`` says how: ``token``, ``os-user``). The row keeps
the exact signed text, the base64 signature and the key fingerprint, so a
verifier needs only the public keys.

:func:`verify_decisions` re-checks every registered personal key (its
registration must be signed by a trusted key) and every decision (signature,
and agreement of the statement with the row and the request it decides). A
row written straight into the database, or altered afterwards, is named.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlmodel import Session, col

from lmops_core.audit.chain import canonical_json
from lmops_core.errors import IntegrityError, LmopsError, NotFoundError
from lmops_core.governance.identity import Identity, fingerprint_of, parse_public_pem
from lmops_core.governance.models import ApprovalDecision, ApprovalRequest, SigningKey
from lmops_core.terms import UserRoleName

APPROVAL_TYPE = "lmops.approval/1"
REGISTRATION_TYPE = "lmops.key-registration/1"
SERVER_METHODS = frozenset({"token", "os-user"})


@dataclass(frozen=True)
class Signer:
    """A private key able to sign, with its fingerprint."""

    fingerprint: str
    key: Ed25519PrivateKey = field(repr=False)


@dataclass(frozen=True)
class Signed:
    """A signed statement as stored: the exact text, the signature, the key's fingerprint."""

    statement: str
    signature: str
    key_fingerprint: str

    def to_json(self) -> dict[str, str]:
        """The form carried in evidence details and bundles."""
        return {
            "statement": self.statement,
            "signature": self.signature,
            "key_fingerprint": self.key_fingerprint,
        }


def server_signer(home: Path) -> Signer:
    """The server's attestation key: the active bundle key of ``home`` (created on first use)."""
    from lmops_core.deploy.keys import KeyStore  # deploy sits above governance; import late

    keys = KeyStore.for_home(home)
    # Concurrent first decisions (API worker processes, or threads of one) make one key.
    keys.ensure_active()
    key_id, key = keys.signing_key()
    return Signer(fingerprint=key_id, key=key)


def server_public_keys(home: Path) -> dict[str, Ed25519PublicKey]:
    """Every server public key of ``home`` (current and rotated out), by fingerprint."""
    from lmops_core.deploy.keys import KeyStore

    return KeyStore.for_home(home).public_keys()


def signer_for(identity: Identity, home: Path) -> Signer:
    """Who signs for ``identity``: its personal key, or the server attesting it."""
    if identity.method == "personal-key" and identity.private_key is not None:
        return Signer(fingerprint=identity.key_fingerprint or "", key=identity.private_key)
    return server_signer(home)


def sign(statement: Mapping[str, Any], signer: Signer) -> Signed:
    """Sign the canonical JSON of ``statement``."""
    text = canonical_json(dict(statement))
    signature = base64.b64encode(signer.key.sign(text.encode("utf-8"))).decode("ascii")
    return Signed(statement=text, signature=signature, key_fingerprint=signer.fingerprint)


def check(signed: Signed, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    """The statement if its signature verifies with the key it names, else IntegrityError."""
    key = keys.get(signed.key_fingerprint)
    if key is None:
        raise IntegrityError(
            f"signed by key {signed.key_fingerprint}, which is not a trusted or registered key"
        )
    try:
        key.verify(
            base64.b64decode(signed.signature, validate=True), signed.statement.encode("utf-8")
        )
    except (InvalidSignature, ValueError) as exc:
        raise IntegrityError(
            f"the signature by key {signed.key_fingerprint} does not match "
            "the statement: the statement or its signature was altered"
        ) from exc
    try:
        body = json.loads(signed.statement)
    except ValueError as exc:
        raise IntegrityError(f"the signed statement is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise IntegrityError("the signed statement is not a JSON object")
    return body


def auth_of(identity: Identity) -> dict[str, str]:
    """How the actor was authenticated, as written into statements."""
    auth: dict[str, str] = {"method": identity.method}
    if identity.token_id:
        auth["token_id"] = identity.token_id
    if identity.key_fingerprint:
        auth["key_fingerprint"] = identity.key_fingerprint
    return auth


def approval_statement(
    *,
    req: ApprovalRequest,
    identity: Identity,
    decision: str,
    role: UserRoleName,
    comment: str,
    at: datetime,
) -> dict[str, Any]:
    """The statement an approver signs: what they decided, on exactly which snapshot."""
    return {
        "type": APPROVAL_TYPE,
        "request_id": req.id,
        **_snapshot_of(req),
        "decision": decision,
        "role": role,
        "actor": identity.user,
        "auth": auth_of(identity),
        "comment": comment,
        "time": at.isoformat(),
    }


def _snapshot_of(req: ApprovalRequest) -> dict[str, Any]:
    """What an approval statement pins of its request: the ref, stage and every digest."""
    return {
        "ref": req.ref,
        "target_stage": req.target_stage,
        "version_digest": req.version_digest,
        "policy_digests": dict(sorted(req.policy_digests.items())),
        "evidence_digests": sorted(req.evidence_digests),
        "snapshot_digest": req.snapshot_digest,
    }


def registration_statement(
    *, user: str, public_key_pem: str, fingerprint: str, registrar: Identity, at: datetime
) -> dict[str, Any]:
    """The statement by which ``registrar`` binds a public key to ``user``."""
    return {
        "type": REGISTRATION_TYPE,
        "user": user,
        "fingerprint": fingerprint,
        "public_key": public_key_pem,
        "registered_by": registrar.user,
        "auth": auth_of(registrar),
        "time": at.isoformat(),
    }


#: Where a signing key row keeps its signed registration, by field of :class:`Signed`.
_REGISTRATION_COLUMNS = {
    "statement": "registration",
    "signature": "registration_signature",
    "key_fingerprint": "registration_key",
}


def registration_columns(signed: Signed, *, registrar: Identity, at: datetime) -> dict[str, Any]:
    """The columns of a signing key row that record its registration: who registered the
    key and when (``created_by``, ``created_at``), and the statement they signed saying so."""
    columns = {column: getattr(signed, name) for name, column in _REGISTRATION_COLUMNS.items()}
    return {"created_by": registrar.user, "created_at": at, **columns}


def registration_signed(row: SigningKey) -> Signed:
    """The signed registration a signing key row stores."""
    return Signed(**{name: getattr(row, column) for name, column in _REGISTRATION_COLUMNS.items()})


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionVerifyResult:
    """What :func:`verify_decisions` found; ``problems`` lists every failure, first first."""

    decisions_checked: int
    keys_checked: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every key registration and every decision verified."""
        return not self.problems

    @property
    def first_problem(self) -> str | None:
        """The first forged or altered record, named."""
        return self.problems[0] if self.problems else None


@dataclass
class _Trusted:
    server: dict[str, Ed25519PublicKey]
    personal: dict[str, SigningKey] = field(default_factory=dict)
    personal_keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    def all(self) -> dict[str, Ed25519PublicKey]:
        return {**self.server, **self.personal_keys}


def _must_match(body: dict[str, Any], expected: dict[str, Any], message: str) -> None:
    """Refuse a signed ``body`` that says otherwise than ``expected`` on any field;
    ``message`` names the field (``name``), what was signed (``said``) and what is stored."""
    for name, value in expected.items():
        if body.get(name) != value:
            raise IntegrityError(message.format(name=name, said=body.get(name), value=value))


def _check_registration(row: SigningKey, trusted: _Trusted) -> None:
    body = check(registration_signed(row), trusted.all())
    public = parse_public_pem(row.public_key, where=f"signing key {row.fingerprint}")
    expected = {
        "type": REGISTRATION_TYPE,
        "user": row.user,
        "fingerprint": row.fingerprint,
        "public_key": row.public_key,
    }
    _must_match(
        body, expected, "its registration statement says {name}={said!r}, the row {value!r}"
    )
    if fingerprint_of(public) != row.fingerprint:
        raise IntegrityError("its public key does not have the fingerprint it is stored under")
    trusted.personal[row.fingerprint] = row
    trusted.personal_keys[row.fingerprint] = public


def _check_decision(d: ApprovalDecision, req: ApprovalRequest | None, trusted: _Trusted) -> None:
    if not d.statement or not d.signature or not d.key_fingerprint:
        raise IntegrityError("it carries no signed statement")
    body = check(Signed(d.statement, d.signature, d.key_fingerprint), trusted.all())
    if req is None:
        raise IntegrityError(f"its request {d.request_id} does not exist")
    expected: dict[str, Any] = {
        "type": APPROVAL_TYPE,
        "request_id": d.request_id,
        "actor": d.actor,
        "role": d.role,
        "decision": d.decision,
        "comment": d.comment,
        **_snapshot_of(req),
    }
    _must_match(
        body, expected, "the signed statement says {name}={said!r} but the database says {value!r}"
    )
    method = (body.get("auth") or {}).get("method")
    if method != d.auth_method:
        raise IntegrityError(f"signed as authenticated by {method!r}, stored as {d.auth_method!r}")
    key = trusted.personal.get(d.key_fingerprint)
    if key is not None:
        if method != "personal-key" or key.user != d.actor:
            raise IntegrityError(
                f"signed with the personal key of {key.user!r}, not of the actor {d.actor!r}"
            )
        if key.revoked_at is not None and _when(body) > _aware(key.revoked_at):
            raise IntegrityError(f"signed with key {key.fingerprint} after it was revoked")
    elif method not in SERVER_METHODS:
        raise IntegrityError(f"claims {method!r} authentication but is signed by the server")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(body: Mapping[str, Any]) -> datetime:
    try:
        return _aware(datetime.fromisoformat(str(body.get("time"))))
    except ValueError as exc:
        raise IntegrityError(
            f"the statement's time {body.get('time')!r} is not a timestamp"
        ) from exc


def verify_decisions(
    s: Session, server_keys: Mapping[str, Ed25519PublicKey]
) -> DecisionVerifyResult:
    """Check every personal key registration and every decision's signed statement.

    ``server_keys`` are the trusted server public keys (``server_public_keys(home)``
    plus any passed by an operator). Personal keys count only when their
    registration verifies with a key already trusted.
    """
    trusted = _Trusted(server=dict(server_keys))
    problems: list[str] = []
    rows = (
        s.execute(
            select(SigningKey).order_by(col(SigningKey.created_at), col(SigningKey.fingerprint))
        )
        .scalars()
        .all()
    )
    for row in rows:
        try:
            _check_registration(row, trusted)
        except LmopsError as exc:  # a bad row is a finding, not a crash
            problems.append(f"signing key {row.fingerprint} of {row.user!r}: {exc}")
    decisions = (
        s.execute(select(ApprovalDecision).order_by(col(ApprovalDecision.id))).scalars().all()
    )
    requests = {
        r.id: r
        for r in s.execute(
            select(ApprovalRequest).where(
                col(ApprovalRequest.id).in_({d.request_id for d in decisions})
            )
        ).scalars()
    }
    for d in decisions:
        try:
            _check_decision(d, requests.get(d.request_id), trusted)
        except IntegrityError as exc:
            problems.append(
                f"decision {d.id} ({d.decision} by {d.actor!r} as {d.role} on "
                f"request {d.request_id}): {exc}"
            )
    return DecisionVerifyResult(
        decisions_checked=len(decisions), keys_checked=len(rows), problems=tuple(problems)
    )


def registered_keys(s: Session, fingerprints: set[str]) -> dict[str, SigningKey]:
    """The key rows with these fingerprints (revoked included: old decisions still verify)."""
    if not fingerprints:
        return {}
    return {
        k.fingerprint: k
        for k in s.execute(
            select(SigningKey).where(col(SigningKey.fingerprint).in_(fingerprints))
        ).scalars()
    }


def decision_signed(d: ApprovalDecision) -> Signed:
    """The signed statement stored on a decision row (NotFoundError when unsigned)."""
    if not d.statement or not d.signature or not d.key_fingerprint:
        raise NotFoundError(f"decision {d.id} on request {d.request_id} has no signed statement")
    return Signed(d.statement, d.signature, d.key_fingerprint)


__all__ = [
    "APPROVAL_TYPE",
    "REGISTRATION_TYPE",
    "DecisionVerifyResult",
    "Signed",
    "Signer",
    "approval_statement",
    "check",
    "decision_signed",
    "registered_keys",
    "registration_columns",
    "registration_signed",
    "registration_statement",
    "server_public_keys",
    "server_signer",
    "sign",
    "signer_for",
    "verify_decisions",
]
