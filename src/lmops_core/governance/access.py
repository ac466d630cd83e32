"""Who may act: user roles and bearer tokens, changed only by a verified admin, audited.

:class:`Access` takes the database, the identity acting and its audit writer;
the functions :func:`acting` and :func:`require_role` are what the approval
workflow asks before any decision.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from pydantic import SecretStr
from sqlalchemy import bindparam, func, select
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, col

from lmops_core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from lmops_core.governance.identity import (
    TOKEN_WITH_ROLES,
    Identity,
    hash_secret,
    require_verified,
    token_read,
    token_row,
    verified_roles,
    verified_token,
)
from lmops_core.governance.models import ROLES, ApiToken, UserRole
from lmops_core.governance.schemas import Principal
from lmops_core.registry.db import Database
from lmops_core.registry.models import utcnow
from lmops_core.registry.plain_text import check_text
from lmops_core.registry.prepared import PreparedSelect, Record, read_all
from lmops_core.registry.store import AuditWriter
from lmops_core.terms import UserRoleName


def acting(s: Session, identity: Identity, action: str, *, embedded: bool) -> Identity:
    """The verified identity deciding ``action`` now, or ``AuthenticationError``."""
    return require_verified(s, identity, action, embedded=embedded)


def check_user_role(role: str) -> UserRoleName:
    """``role`` as a user role, or refused naming the known ones."""
    if role not in ROLES:
        raise ValidationError(
            f"unknown role {role!r} (expected one of {', '.join(ROLES)})", field="role"
        )
    return role


#: The roles one user holds (built once: every decision and write asks it).
_ROLES_OF = select(col(UserRole.role)).where(col(UserRole.user) == bindparam("user"))


def require_role(s: Session, actor: str, allowed: AbstractSet[str], action: str) -> set[str]:
    """The user roles ``actor`` holds, if one of them is ``allowed``; else refused.

    ``allowed`` are role names as a policy's approvals give them: a policy may name
    any role, though only :data:`~lmops_core.vocabulary.ROLES` can be held."""
    return check_role(roles_held(s, actor), actor, allowed, action)


def roles_held(s: Session, actor: str) -> set[str]:
    """The user roles ``actor`` holds now, read in ``s``."""
    return set(s.execute(_ROLES_OF, {"user": actor}).scalars())


def check_role(
    held: AbstractSet[str], actor: str, allowed: AbstractSet[str], action: str
) -> set[str]:
    """``held`` (the roles ``actor`` holds, read in the caller's transaction), if one of
    them is ``allowed``; else refused (as :func:`require_role`)."""
    held = set(held)
    if not held & allowed:
        raise PermissionDeniedError(
            f"{actor!r} may not {action}: it needs one of the roles "
            f"{', '.join(sorted(allowed))} (holds: {', '.join(sorted(held)) or 'none'})"
        )
    return held


def _add_token(s: Session, user: str, *, description: str, created_by: str) -> tuple[str, str]:
    """Add a new bearer token of ``user`` (only its secret's hash is stored);
    ``(token id, the token itself)``."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    s.add(
        ApiToken(
            id=token_id,
            user=user,
            secret_hash=hash_secret(secret),
            description=description,
            created_by=created_by,
        )
    )
    s.flush()
    return token_id, f"lmops_{token_id}_{secret}"


def _held_role(s: Session, user: str, role: str) -> UserRole | None:
    """The row by which ``user`` holds ``role``, if any."""
    return (
        s.execute(select(UserRole).where(col(UserRole.user) == user, col(UserRole.role) == role))
        .scalars()
        .first()
    )


class Access:
    """User roles and bearer tokens of one store, as seen by one identity."""

    def __init__(self, *, db: Database, identity: Identity, audit: AuditWriter) -> None:
        self.db = db
        self.identity = identity
        self.audit = audit

    def acting(self, s: Session, action: str) -> Identity:
        """The verified identity deciding ``action`` now, or ``AuthenticationError``."""
        return acting(s, self.identity, action, embedded=self.db.is_sqlite)

    def acting_with_roles(self, s: Session, action: str) -> tuple[Identity, frozenset[str]]:
        """:meth:`acting`, and the user roles that identity holds, read in ``s`` (with the
        token in one statement when it acts by token)."""
        if self.identity.method == "token":
            return self.identity, verified_token(s, self.identity, action)
        who = self.acting(s, action)
        return who, frozenset(roles_held(s, who.user))

    def acting_reading(
        self, s: Session, action: str, reads: Sequence[tuple[PreparedSelect, Mapping[str, Any]]]
    ) -> tuple[Identity, frozenset[str], list[list[Record]]]:
        """:meth:`acting_with_roles`, and the rows of ``reads`` read in ``s``'s transaction
        (:func:`~lmops_core.registry.prepared.read_all`), which must have written nothing
        yet. When the identity acts by token, its token is read in the same batch (on
        PostgreSQL one round trip for all); the rows of ``reads`` are returned only once
        the credential has been verified."""
        conn = s.connection()  # starts the transaction (on SQLite: BEGIN IMMEDIATE)
        if self.identity.method != "token":
            who, held = self.acting_with_roles(s, action)
            return who, held, read_all(conn, reads)
        token = (TOKEN_WITH_ROLES, token_read(self.identity, action))
        token_rows, *rows = read_all(conn, [token, *reads])
        return self.identity, verified_roles(self.identity, token_rows, action), rows

    def roles_of(self, user: str) -> frozenset[UserRoleName]:
        """The user roles ``user`` holds now."""
        with self.db.read() as s:
            return frozenset(
                s.execute(select(col(UserRole.role)).where(col(UserRole.user) == user)).scalars()
            )

    def bootstrap_admin(self, user: str, *, description: str = "bootstrap") -> str:
        """Make ``user`` the first admin of a store that has none; returns their first token.

        The only way to the first admin, explicit and audited; refused once any
        admin exists (then an admin grants roles with their own credential).
        """
        if not user or len(user) > 128 or "\x00" in user:
            raise ValidationError("user names must be 1-128 characters", field="user")
        by = f"bootstrap:{self.identity.user}"[:128]
        with self.db.write() as s:
            if self.db.dialect == "postgresql":  # two bootstraps cannot both see no admin
                s.execute(select(func.pg_advisory_xact_lock(0x6C6D6F7073)))
            admins = sorted(
                s.execute(select(col(UserRole.user)).where(col(UserRole.role) == "admin")).scalars()
            )
            if admins:
                raise ConflictError(
                    f"this store already has an admin ({', '.join(admins)}): "
                    "bootstrapping is possible only on a store without one"
                )
            s.add(UserRole(user=user, role="admin", granted_by=by))
            token_id, token = _add_token(s, user, description=description, created_by=by)
            self.audit.record(
                s, "admin.bootstrap", f"user:{user}", after={"role": "admin", "token_id": token_id}
            )
        return token

    def grant_role(self, user: str, role: UserRoleName) -> None:
        """Give ``user`` a role (an admin acting with a credential)."""
        check_text(user, "user", max_length=128)
        if not user.strip():
            raise ValidationError("user must not be empty", field="user")
        role = check_user_role(role)
        with self.db.write() as s:
            who = self.require_admin(s, f"grant role {role} to {user!r}")
            if _held_role(s, user, role) is not None:
                return
            try:
                with s.begin_nested():
                    s.add(UserRole(user=user, role=role, granted_by=who.user))
            except sa_exc.IntegrityError:
                return  # granted concurrently (uq_user_role): the role is held, as asked
            self.audit.record(
                s, "role.grant", f"user:{user}", after={"role": role, "by": who.describe()}
            )

    def revoke_role(self, user: str, role: UserRoleName) -> None:
        """Take a role from ``user`` (an admin acting with a credential)."""
        check_text(user, "user", max_length=128)
        with self.db.write() as s:
            who = self.require_admin(s, f"revoke role {role} from {user!r}")
            row = _held_role(s, user, role)
            if row is None:
                raise NotFoundError(f"user {user!r} does not hold role {role!r}")
            s.delete(row)
            self.audit.record(
                s,
                "role.revoke",
                f"user:{user}",
                before={"role": role},
                after={"by": who.describe()},
            )

    def require_admin(self, s: Session, action: str) -> Identity:
        """The verified identity acting, if it holds the admin role; else refused."""
        who = self.acting(s, action)
        is_admin = (
            s.execute(
                select(UserRole).where(
                    col(UserRole.user) == who.user, col(UserRole.role) == "admin"
                )
            )
            .scalars()
            .first()
        )
        if is_admin is None:
            admins = s.execute(
                select(func.count()).select_from(UserRole).where(col(UserRole.role) == "admin")
            ).scalar_one()
            hint = (
                ""
                if admins
                else (": this store has no admin yet; bootstrap one with `lmops init --admin NAME`")
            )
            raise PermissionDeniedError(f"{who.user!r} may not {action}: it is not an admin{hint}")
        return who

    def create_token(
        self, user: str, *, role: UserRoleName | None = None, description: str = ""
    ) -> str:
        """Create a bearer token for ``user`` (granting ``role`` first); returns the token once."""
        if role is not None:
            self.grant_role(user, role)
        with self.db.write() as s:
            who = self.require_admin(s, f"create a token for {user!r}")
            token_id, token = _add_token(s, user, description=description, created_by=who.user)
            self.audit.record(
                s,
                "token.create",
                f"user:{user}",
                after={"token_id": token_id, "by": who.describe()},
            )
        return token

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token: its owner may, and an admin may revoke anyone's."""
        with self.db.write() as s:
            row = s.get(ApiToken, token_id)
            if row is None or row.revoked_at is not None:
                self.require_admin(s, f"revoke token {token_id}")
                raise NotFoundError(f"no active token {token_id!r}")
            who = self.acting(s, f"revoke token {token_id}")
            if who.user != row.user:  # anyone may revoke their own token
                self.require_admin(s, f"revoke token {token_id} of {row.user!r}")
            row.revoked_at = utcnow()
            s.add(row)
            self.audit.record(
                s,
                "token.revoke",
                f"user:{row.user}",
                after={"token_id": token_id, "by": who.describe()},
            )

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token (never its secret), oldest first."""
        with self.db.read() as s:
            return [
                {
                    "id": t.id,
                    "user": t.user,
                    "description": t.description,
                    "created_at": t.created_at,
                    "revoked": t.revoked_at is not None,
                }
                for t in s.execute(select(ApiToken).order_by(col(ApiToken.created_at))).scalars()
            ]

    def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for, or ``AuthenticationError``."""
        with self.db.read() as s:
            row = token_row(s, token)
            roles = frozenset(
                s.execute(
                    select(col(UserRole.role)).where(col(UserRole.user) == row.user)
                ).scalars()
            )
            return Principal(user=row.user, roles=roles, token_id=row.id, token=SecretStr(token))


__all__ = ["Access", "acting", "check_role", "require_role", "roles_held"]
