"""Whether a verified bundle still stands: live against the store, else by its validity period.

A signature proves who packaged a bundle and that nothing changed since; it
cannot say that the approval still holds. So a bundle is also checked against
the store that approved it, when that store is reachable and knows the
bundle's approval request: the version must not have been revoked (or marked
``revalidation-required``) after that approval, and the request must still be
``approved`` for exactly this content and stage. When no such store answers,
the bundle's own ``valid_until`` (signed into its manifest when it was
created) decides: past it, the bundle is refused until it can be re-checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from lmops_core.errors import IntegrityError, NotFoundError, PolicyViolationError

if TYPE_CHECKING:
    from lmops_core.registry.db import Database
    from lmops_core.settings import Settings


class LiveStore(Protocol):
    """A store a bundle's standing is checked against: its database (a ``Workspace`` is one)."""

    @property
    def db(self) -> Database: ...


@dataclass(frozen=True)
class ReachableStore:
    """The database of a store that answered (:func:`open_reachable_store`): all a standing
    check reads. Close it when done."""

    db: Database

    def close(self) -> None:
        """Release its database connections."""
        self.db.dispose()


#: How long a bundle may be trusted without asking the store, unless chosen at creation.
DEFAULT_VALIDITY = timedelta(days=30)


@dataclass(frozen=True)
class Standing:
    """How a bundle's standing was established: ``store`` (live) or ``offline`` (validity)."""

    checked: Literal["store", "offline"]
    valid_until: datetime | None
    detail: str


def valid_until_of(manifest: dict[str, Any]) -> datetime | None:
    """The signed ``valid_until`` of a manifest (None for bundles made without one)."""
    raw = manifest.get("valid_until")
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(str(raw))
    except ValueError as exc:
        raise IntegrityError(
            f"manifest.json: valid_until {raw!r} is not an ISO timestamp", file="manifest.json"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_standing(
    manifest: dict[str, Any], *, store: LiveStore | None, now: datetime | None = None
) -> Standing:
    """Refuse (``PolicyViolationError``) a bundle whose approval no longer stands.

    ``manifest`` is the verified manifest body. ``store`` is the workspace to
    ask, or None when none is reachable.
    """
    now = now or datetime.now(UTC)
    if store is not None:
        live = _ask_store(store.db, manifest)
        if live is not None:
            return live
    ref = manifest.get("model", {}).get("ref", "?")
    until = valid_until_of(manifest)
    where = (
        "the store is not reachable"
        if store is None
        else "the store reached does not know its approval request"
    )
    if until is None:
        raise PolicyViolationError(
            f"bundle of {ref} carries no validity period (valid_until) and {where}: it can only "
            "be accepted after a check against the store that approved it"
        )
    if now > until:
        raise PolicyViolationError(
            f"bundle of {ref} was valid until {until.isoformat()} without a check, and {where}: "
            "re-check it against the store that approved it (revocation may have happened)"
        )
    return Standing(
        "offline", until, f"not checked against a store ({where}); valid until {until.isoformat()}"
    )


def _ask_store(db: Database, manifest: dict[str, Any]) -> Standing | None:
    """The live verdict, or None when this store never approved the bundle's request."""
    from lmops_core.governance.decisions import REVALIDATION_REQUIRED
    from lmops_core.governance.models import ApprovalRequest
    from lmops_core.registry import store
    from lmops_core.registry.names import parse_ref

    approval = manifest.get("approval") or {}
    model = manifest.get("model") or {}
    ref, digest, stage = str(model.get("ref")), model.get("digest"), manifest.get("stage")
    with db.read() as s:
        req = s.get(ApprovalRequest, str(approval.get("request_id")))
        if req is None:
            return None
        if req.ref != ref or req.version_digest != digest or req.target_stage != stage:
            raise PolicyViolationError(
                f"bundle of {ref} names approval request {req.id}, which approved {req.ref} "
                f"({req.version_digest}) for {req.target_stage}, not this content and stage"
            )
        if req.status != "approved":
            raise PolicyViolationError(
                f"bundle of {ref}: its approval request {req.id} is {req.status}, not approved"
            )
        try:
            _, version = store.resolve(s, parse_ref(ref), "model")
        except NotFoundError as exc:
            raise PolicyViolationError(
                f"bundle of {ref}: the version no longer exists in the store"
            ) from exc
        if version.digest != digest:
            raise PolicyViolationError(
                f"bundle of {ref}: the store holds {version.digest} for "
                f"this version, the bundle {digest}"
            )
        decided = req.decided_at or req.created_at
        decided = decided if decided.tzinfo else decided.replace(tzinfo=UTC)
        for ev in store.list_evidence(s, "model", version.id):
            at = ev.created_at if ev.created_at.tzinfo else ev.created_at.replace(tzinfo=UTC)
            if ev.kind == "revocation" and at >= decided:
                reason = (ev.details or {}).get("reason", "")
                raise PolicyViolationError(
                    f"bundle of {ref} is refused: the version was revoked at {at.isoformat()} "
                    f"after approval {req.id} ({reason})"
                )
        if version.status == REVALIDATION_REQUIRED:
            raise PolicyViolationError(
                f"bundle of {ref} is refused: the version is {REVALIDATION_REQUIRED}"
            )
        here = "in" if version.stage == stage else f"no longer in {stage} (superseded, not revoked)"
        return Standing(
            "store",
            valid_until_of(manifest),
            f"checked against the store: approval {req.id} stands, {ref} {here}",
        )


def open_reachable_store(settings: Settings) -> ReachableStore | None:
    """The store of ``settings`` if it answers now (migrated to the current schema, as
    opening a workspace would), else None: the bundle is then checked offline."""
    from lmops_core.registry.db import Database

    if not settings.database_url and not (settings.home / "lmops.db").is_file():
        return None  # no store was ever created here: do not make an empty one
    try:
        db = Database(
            settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
    except Exception:  # noqa: BLE001 - unusable URL: the validity period decides
        return None
    try:
        db.migrate()
    except Exception:  # noqa: BLE001 - unreachable store: the validity period decides
        db.dispose()
        return None
    return ReachableStore(db)


__all__ = [
    "DEFAULT_VALIDITY",
    "LiveStore",
    "ReachableStore",
    "Standing",
    "check_standing",
    "open_reachable_store",
    "valid_until_of",
]
