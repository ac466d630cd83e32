"""Personal signing keys: registered by an admin, rotated, revoked; each change signed and audited.

A person generates a key pair locally (``lmops keys generate``); only the
public half reaches the store, registered by an admin acting with their own
credential. The registration itself is a signed statement, so a key row
inserted straight into the database does not verify. At most one key per
person is active; a revoked key stops deciding at once, and decisions it
signed before its revocation still verify.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session, col

from lmops_core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from lmops_core.governance.access import acting
from lmops_core.governance.identity import Identity, fingerprint_of, parse_public_pem, public_pem
from lmops_core.governance.models import SigningKey, UserRole
from lmops_core.governance.signing import (
    registration_columns,
    registration_statement,
    sign,
    signer_for,
)
from lmops_core.registry.db import Database
from lmops_core.registry.models import utcnow
from lmops_core.registry.store import AuditWriter


@dataclass(frozen=True)
class KeyPublic:
    """A registered personal key as listed (never a private half: the store has none)."""

    fingerprint: str
    user: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """True until the key is revoked."""
        return self.revoked_at is None


def read_public_key_file(path: Path) -> tuple[str, str]:
    """``(fingerprint, normalised PEM)`` of a public key file."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"public key file {path} does not exist", file=str(path))
    key = parse_public_pem(path.read_text(encoding="ascii", errors="replace"), where=str(path))
    return fingerprint_of(key), public_pem(key)


def is_admin(s: Session, user: str) -> bool:
    """Whether ``user`` holds the admin role now."""
    admins: int = s.execute(
        select(func.count())
        .select_from(UserRole)
        .where(col(UserRole.user) == user, col(UserRole.role) == "admin")
    ).scalar_one()
    return admins > 0


class KeyRegistry:
    """The personal signing keys of one store, changed through a verified identity."""

    def __init__(self, *, db: Database, identity: Identity, audit: AuditWriter, home: Path) -> None:
        self.db = db
        self.identity = identity
        self.audit = audit
        self.home = home

    def _acting(self, s: Session, action: str) -> Identity:
        return acting(s, self.identity, action, embedded=self.db.is_sqlite)

    def register(self, user: str, public_key: Path | str) -> KeyPublic:
        """Bind the public key in the file ``public_key`` to ``user`` (admins only)."""
        fingerprint, pem = read_public_key_file(Path(public_key))
        with self.db.write() as s:
            who = self._acting(s, f"register a signing key for {user!r}")
            if not is_admin(s, who.user):
                raise PermissionDeniedError(
                    f"{who.user!r} may not register signing keys: only an admin may"
                )
            return self._add(s, who, user, fingerprint, pem, replace=False)

    def rotate(self, public_key: Path | str, *, user: str | None = None) -> KeyPublic:
        """Replace ``user``'s active key (default: the actor's own) by a new one.

        An admin may rotate anyone's key; a person may rotate their own only
        when acting with their current personal key (a token is not enough:
        whoever holds a token could otherwise mint a personal signature).
        """
        fingerprint, pem = read_public_key_file(Path(public_key))
        with self.db.write() as s:
            target = user or self.identity.user
            who = self._acting(s, f"rotate the signing key of {target!r}")
            own = who.user == target and who.method == "personal-key"
            if not own and not is_admin(s, who.user):
                raise PermissionDeniedError(
                    f"{who.user!r} may not rotate the key of {target!r}: an admin may, or the "
                    "owner acting with their current personal key"
                )
            return self._add(s, who, target, fingerprint, pem, replace=True)

    def revoke(self, user: str) -> KeyPublic:
        """Revoke ``user``'s active key (an admin, or the owner with any credential)."""
        with self.db.write() as s:
            who = self._acting(s, f"revoke the signing key of {user!r}")
            if who.user != user and not is_admin(s, who.user):
                raise PermissionDeniedError(
                    f"{who.user!r} may not revoke the key of {user!r}: "
                    "only an admin or its owner may"
                )
            row = self._active(s, user)
            if row is None:
                raise NotFoundError(f"{user!r} has no active signing key")
            row.revoked_at = utcnow()
            s.add(row)
            s.flush()
            self.audit.record(
                s,
                "signing_key.revoke",
                f"user:{user}",
                before={"fingerprint": row.fingerprint},
                after={"by": who.describe()},
            )
            return _public(row)

    def list(self, *, include_revoked: bool = True) -> list[KeyPublic]:
        """Registered keys, oldest first."""
        with self.db.read() as s:
            q = select(SigningKey).order_by(col(SigningKey.created_at))
            if not include_revoked:
                q = q.where(col(SigningKey.revoked_at).is_(None))
            return [_public(r) for r in s.execute(q).scalars()]

    @staticmethod
    def _active(s: Session, user: str) -> SigningKey | None:
        return (
            s.execute(
                select(SigningKey)
                .where(col(SigningKey.user) == user, col(SigningKey.revoked_at).is_(None))
                .with_for_update()
            )
            .scalars()
            .first()
        )

    def _add(
        self, s: Session, who: Identity, user: str, fingerprint: str, pem: str, *, replace: bool
    ) -> KeyPublic:
        if not user or len(user) > 128 or "\x00" in user:
            raise ValidationError(
                "user names must be 1-128 characters without NUL bytes", field="user"
            )
        if s.get(SigningKey, fingerprint) is not None:
            raise ConflictError(
                f"key {fingerprint} is already registered (a key is "
                "registered once, even after revocation)"
            )
        current = self._active(s, user)
        if current is not None and not replace:
            raise ConflictError(
                f"{user!r} already has an active key {current.fingerprint}: "
                "rotate it or revoke it first"
            )
        now = utcnow()
        if current is not None:
            current.revoked_at = now
            s.add(current)
            s.flush()
        signed = sign(
            registration_statement(
                user=user, public_key_pem=pem, fingerprint=fingerprint, registrar=who, at=now
            ),
            signer_for(who, self.home),
        )
        row = SigningKey(
            fingerprint=fingerprint,
            user=user,
            public_key=pem,
            **registration_columns(signed, registrar=who, at=now),
        )
        s.add(row)
        s.flush()
        self.audit.record(
            s,
            "signing_key.rotate" if current is not None else "signing_key.register",
            f"user:{user}",
            before={"fingerprint": current.fingerprint} if current else None,
            after={"fingerprint": fingerprint, "by": who.describe()},
        )
        return _public(row)


def _public(row: SigningKey) -> KeyPublic:
    return KeyPublic(**{f.name: getattr(row, f.name) for f in fields(KeyPublic)})


__all__ = ["KeyPublic", "KeyRegistry", "read_public_key_file"]
