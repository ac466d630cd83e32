"""Who is acting, and on what credential.

A workspace acts as one :class:`Identity`. A name alone (``LMOPS_ACTOR``,
``Workspace.as_actor``) is an *asserted* identity: good enough to label
harmless actions (registering a version, reading), never enough for a
decision. A decision (approve, reject, revoke, revalidate, grant or revoke a
role, create a token, register or revoke a signing key, request a promotion) needs a
*verified* identity, established by one of:

- ``token``: an admin-API bearer token (``LMOPS_TOKEN``, ``Workspace.open(token=...)``,
  or the admin API's ``Authorization`` header);
- ``personal-key``: the person's own Ed25519 private key whose public half an
  admin registered (``LMOPS_SIGNING_KEY``, ``Workspace.open(signing_key=...)``);
- ``os-user``: on the embedded single-user store (SQLite) only, the operating
  system account that runs the process, acting as itself.

Credentials are re-checked inside the transaction of each decision, so a token
or key revoked a moment ago no longer decides anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Select, bindparam, select
from sqlmodel import Session, col

from lmops_core.errors import AuthenticationError, ConfigurationError, ValidationError
from lmops_core.governance.models import ApiToken, SigningKey, UserRole
from lmops_core.registry.prepared import PreparedSelect
from lmops_core.settings import Settings

AuthMethod = Literal["token", "personal-key", "os-user", "asserted"]
#: How to present a credential, quoted in every refusal.
HOW_TO_AUTHENTICATE = (
    "set LMOPS_TOKEN to your bearer token or LMOPS_SIGNING_KEY to your "
    "registered personal key file (SDK: Workspace.open(token=...) or "
    "Workspace.open(signing_key=...))"
)


@dataclass(frozen=True)
class Identity:
    """The person a workspace acts as, and how that was established."""

    user: str
    method: AuthMethod = "asserted"
    token_id: str | None = None
    key_fingerprint: str | None = None
    private_key: Ed25519PrivateKey | None = field(default=None, repr=False, compare=False)
    #: The bearer token itself: a token id alone (listed, audited) proves nothing.
    secret: str | None = field(default=None, repr=False, compare=False)

    @property
    def verified(self) -> bool:
        """True when a credential (or the embedded store's OS user) backs the name."""
        return self.method != "asserted"

    def describe(self) -> str:
        """``alice (token 1a2b...)``: for messages and audit details."""
        if self.method == "token":
            return f"{self.user} (token {self.token_id})"
        if self.method == "personal-key":
            return f"{self.user} (personal key {self.key_fingerprint})"
        if self.method == "os-user":
            return f"{self.user} (operating-system user, embedded store)"
        return f"{self.user} (name only, no credential)"


def os_user() -> str:
    """The operating-system account running this process: who the settings act as by
    default (``LMOPS_ACTOR`` unset), read from there so the two cannot differ."""
    return str(Settings.model_fields["actor"].get_default(call_default_factory=True))


def hash_secret(secret: str) -> str:
    """The stored form of a token secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ActiveToken(NamedTuple):
    """An active token: its id and the user it stands for."""

    id: str
    user: str


#: Built once: every authenticated call and every decision reads its token with it
#: (plain columns, no ORM object: it runs on each API request).
_TOKEN_COLUMNS = (
    col(ApiToken.id),
    col(ApiToken.user),
    col(ApiToken.secret_hash),
    col(ApiToken.revoked_at),
)
_TOKEN_BY_ID = select(*_TOKEN_COLUMNS).where(col(ApiToken.id) == bindparam("token_id"))
#: The token and, one row each, the user roles its owner holds (one statement where a
#: decision needs both: the credential and the roles, read in the same transaction).
_TOKEN_WITH_ROLES = (
    select(*_TOKEN_COLUMNS, col(UserRole.role))
    .outerjoin(UserRole, col(UserRole.user) == ApiToken.user)
    .where(col(ApiToken.id) == bindparam("token_id"))
)


def _token_parts(token: str) -> tuple[str, str]:
    """``(token id, secret)`` of a bearer token ``lmops_<id>_<secret>``."""
    parts = token.split("_", 2) if token else []
    if len(parts) != 3 or parts[0] != "lmops" or not parts[1] or not parts[2]:
        raise AuthenticationError("malformed API token")
    return parts[1], parts[2]


def _active(row: Any, secret: str) -> ActiveToken:
    """The token ``row`` (``None``: no such token) if ``secret`` is its secret and it is
    not revoked; else ``AuthenticationError``."""
    expected = row.secret_hash if row is not None else hash_secret("absent")
    ok = hmac.compare_digest(expected, hash_secret(secret))
    if row is None or not ok or row.revoked_at is not None:
        raise AuthenticationError("invalid or revoked API token")
    return ActiveToken(id=row.id, user=row.user)


def token_row(s: Session, token: str) -> ActiveToken:
    """The active token a bearer token names, or ``AuthenticationError``."""
    token_id, secret = _token_parts(token)
    return _active(s.execute(_TOKEN_BY_ID, {"token_id": token_id}).first(), secret)


def fingerprint_of(public: Ed25519PublicKey) -> str:
    """A key's fingerprint: the first 16 hex digits of the sha256 of its raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM text."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def parse_public_pem(text: str, *, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text, or ``ValidationError`` naming ``where``."""
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValidationError(f"{where}: not a PEM public key ({exc})", file=where) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError(f"{where}: not an Ed25519 public key", file=where)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """A personal Ed25519 private key from a PEM file only its owner can read."""
    path = Path(path)
    if not path.is_file():
        raise AuthenticationError(f"signing key file {path} does not exist", file=str(path))
    if path.stat().st_mode & 0o077:
        raise ConfigurationError(f"{path} is readable by other users; chmod 600 it", file=str(path))
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError(f"{path}: not a PEM private key ({exc})", file=str(path)) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthenticationError(f"{path}: not an Ed25519 private key", file=str(path))
    return key


def active_key_of(s: Session, fingerprint: str) -> SigningKey | None:
    """The registered, unrevoked key with this fingerprint."""
    row = s.get(SigningKey, fingerprint)
    return row if row is not None and row.revoked_at is None else None


def identity_from_token(s: Session, token: str) -> Identity:
    """The verified identity a bearer token stands for."""
    row = token_row(s, token)
    return Identity(user=row.user, method="token", token_id=row.id, secret=token)


def identity_from_key(s: Session, key: Ed25519PrivateKey) -> Identity:
    """The verified identity of a registered personal key's owner."""
    fingerprint = fingerprint_of(key.public_key())
    row = active_key_of(s, fingerprint)
    if row is None:
        raise AuthenticationError(
            f"personal signing key {fingerprint} is not registered or was revoked: an admin "
            "registers it with `lmops keys register USER PUBLIC_KEY_FILE`"
        )
    return Identity(
        user=row.user, method="personal-key", key_fingerprint=fingerprint, private_key=key
    )


def resolve(
    s: Session,
    *,
    name: str,
    embedded: bool,
    token: str | None = None,
    signing_key: Path | None = None,
    explicit_name: bool = False,
) -> Identity:
    """The identity a workspace opened with these credentials acts as.

    A token or a key decides who acts; an explicit ``name`` that disagrees is
    refused rather than silently replaced. Without a credential the name is
    asserted only, unless it is the OS user of an embedded store.
    """
    found: Identity | None = None
    if token:
        found = identity_from_token(s, token)
    elif signing_key is not None:
        found = identity_from_key(s, load_private_key(signing_key))
    if found is not None:
        if explicit_name and name != found.user:
            raise AuthenticationError(
                f"the credential belongs to {found.user!r}, not to "
                f"{name!r}: a name cannot override a credential"
            )
        return found
    return name_only(name, embedded=embedded)


def name_only(name: str, *, embedded: bool) -> Identity:
    """A name without a credential: the OS user on an embedded store, else asserted."""
    if embedded and name == os_user():
        return Identity(user=name, method="os-user")
    return Identity(user=name)


def verified_token(s: Session, identity: Identity, action: str) -> frozenset[str]:
    """Refuse unless the token of ``identity`` (method ``token``) still holds now, in this
    transaction; the user roles its owner holds, read in the same statement."""
    params = token_read(identity, action)
    rows = s.connection().execute(_TOKEN_WITH_ROLES, params).all()
    return verified_roles(identity, rows, action)


#: :data:`_TOKEN_WITH_ROLES` run on the DB-API cursor (:mod:`lmops_core.registry.prepared`),
#: for a caller that reads it in one batch with its own reads (:func:`token_read`).
TOKEN_WITH_ROLES = PreparedSelect(cast("Select[Any]", _TOKEN_WITH_ROLES))


def token_read(identity: Identity, action: str) -> dict[str, str]:
    """The parameters of :data:`TOKEN_WITH_ROLES` that read the token of ``identity``
    (method ``token``) with its owner's roles; a malformed token is refused here."""
    try:
        token_id, _ = _token_parts(identity.secret or "")
    except AuthenticationError as exc:
        raise _token_refused(identity, action, exc) from exc
    return {"token_id": token_id}


def verified_roles(identity: Identity, rows: Sequence[Any], action: str) -> frozenset[str]:
    """Refuse unless ``rows`` (:data:`TOKEN_WITH_ROLES` read with :func:`token_read`'s
    parameters in the deciding transaction) show the token of ``identity`` still holds;
    the user roles its owner holds."""
    try:
        _, secret = _token_parts(identity.secret or "")
        row = _active(rows[0] if rows else None, secret)
    except AuthenticationError as exc:
        raise _token_refused(identity, action, exc) from exc
    if row.id != identity.token_id or row.user != identity.user:
        raise AuthenticationError(
            f"{action}: the token presented is not {identity.user!r}'s", user=identity.user
        )
    return frozenset(r.role for r in rows if r.role is not None)


def _token_refused(
    identity: Identity, action: str, exc: AuthenticationError
) -> AuthenticationError:
    return AuthenticationError(
        f"{action}: the token of {identity.user!r} was revoked, "
        f"is not presented or does not exist ({exc})",
        user=identity.user,
    )


def require_verified(s: Session, identity: Identity, action: str, *, embedded: bool) -> Identity:
    """``identity`` if its credential still holds now, in this transaction; else refuse."""
    if identity.method == "asserted":
        raise AuthenticationError(
            f"{action} is a decision and needs a credential of {identity.user!r}; a name "
            f"alone (LMOPS_ACTOR, as_actor) is not enough: {HOW_TO_AUTHENTICATE}",
            user=identity.user,
        )
    if identity.method == "os-user":
        if not embedded or identity.user != os_user():
            raise AuthenticationError(
                f"{action}: acting as the operating-system user is allowed only on the "
                f"embedded store, as that user: {HOW_TO_AUTHENTICATE}",
                user=identity.user,
            )
        return identity
    if identity.method == "token":
        verified_token(s, identity, action)
        return identity
    key = active_key_of(s, identity.key_fingerprint or "")
    if key is None or key.user != identity.user:
        raise AuthenticationError(
            f"{action}: the personal key of {identity.user!r} was revoked or is not registered",
            user=identity.user,
        )
    if (
        identity.private_key is None
        or fingerprint_of(identity.private_key.public_key()) != key.fingerprint
    ):
        raise AuthenticationError(
            f"{action}: the private key presented is not the registered "
            f"key {key.fingerprint} of {identity.user!r}",
            user=identity.user,
        )
    return identity


def write_private_key(path: Path) -> Ed25519PrivateKey:
    """Generate a personal key and write it to the new file ``path`` (mode 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ValidationError(
            f"{path} already exists: refusing to overwrite a key", file=str(path)
        ) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


__all__ = [
    "HOW_TO_AUTHENTICATE",
    "ActiveToken",
    "AuthMethod",
    "TOKEN_WITH_ROLES",
    "Identity",
    "fingerprint_of",
    "hash_secret",
    "identity_from_key",
    "identity_from_token",
    "load_private_key",
    "name_only",
    "os_user",
    "parse_public_pem",
    "public_pem",
    "require_verified",
    "resolve",
    "token_read",
    "token_row",
    "verified_roles",
    "verified_token",
    "write_private_key",
]
