"""Tags and aliases of versions: set (race-free, audited) and read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, col

from lmops_core.errors import ValidationError
from lmops_core.redaction import redact_text
from lmops_core.registry.models import Alias, VersionTag
from lmops_core.registry.names import validate_alias
from lmops_core.registry.plain_text import check_text
from lmops_core.registry.store.refs import ref_of
from lmops_core.registry.store.writer import AuditWriter


def set_tag(
    session: Session, audit: AuditWriter, *, asset_type: str, version: Any, key: str, value: str
) -> None:
    """Set (or replace) a tag on a version."""
    if not isinstance(key, str) or not key or len(key) > 128:
        raise ValidationError("tag keys must be 1-128 characters", field="tag")
    check_text(key, "tag key")
    check_text(value, "tag value")
    value = redact_text(value)
    existing = _insert_or_lock(
        session,
        VersionTag(subject_type=asset_type, subject_id=version.id, key=key, value=value),
        select(VersionTag).where(
            col(VersionTag.subject_type) == asset_type,
            col(VersionTag.subject_id) == version.id,
            col(VersionTag.key) == key,
        ),
    )
    before = existing.value if existing else None
    if existing:
        existing.value = value
        session.add(existing)
        session.flush()
    audit.record(
        session,
        "tag.set",
        ref_of(session, asset_type, version),
        before={key: before} if before is not None else None,
        after={key: value},
    )


def _insert_or_lock(session: Session, new: Any, existing: Any) -> Any:
    """Insert ``new``, or return the row ``existing`` selects, locked, if there is one.

    Race-free under a unique constraint: when a concurrent transaction inserts the
    same key first, the insert fails inside a savepoint (after waiting for the other
    transaction on PostgreSQL) and the committed row is returned instead.
    """
    row = session.execute(existing.with_for_update()).scalars().first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(new)
    except sa_exc.IntegrityError:  # the savepoint's rollback also expunges `new`
        return session.execute(existing.with_for_update()).scalars().one()
    return None


#: Built once: every policy evaluation reads the tags of the version it judges.
_TAGS_OF = select(col(VersionTag.key), col(VersionTag.value)).where(
    col(VersionTag.subject_type) == bindparam("subject_type"),
    col(VersionTag.subject_id) == bindparam("subject_id"),
)


def tags_of(session: Session, asset_type: str, version_id: int) -> dict[str, str]:
    """The tags of one version, as a dict, including those ``session`` has yet to flush."""
    # Read on the session's connection: every policy evaluation reads them, and an ORM
    # execution costs more than the read. It flushes first, as ``session.execute`` would.
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    params = {"subject_type": asset_type, "subject_id": version_id}
    return {key: value for key, value in session.connection().execute(_TAGS_OF, params)}


def tags_and_aliases(
    session: Session, asset_type: str, version_ids: Sequence[int]
) -> tuple[dict[int, dict[str, str]], dict[int, list[str]]]:
    """Tags and aliases of many versions in two queries (for listings and search)."""
    tags: dict[int, dict[str, str]] = {vid: {} for vid in version_ids}
    aliases: dict[int, list[str]] = {vid: [] for vid in version_ids}
    if not version_ids:
        return tags, aliases
    for t in session.execute(
        select(VersionTag).where(
            col(VersionTag.subject_type) == asset_type, col(VersionTag.subject_id).in_(version_ids)
        )
    ).scalars():
        tags[t.subject_id][t.key] = t.value
    for a in session.execute(
        select(Alias).where(
            col(Alias.asset_type) == asset_type, col(Alias.version_id).in_(version_ids)
        )
    ).scalars():
        aliases[a.version_id].append(a.alias)
    return tags, {k: sorted(v) for k, v in aliases.items()}


def set_alias(
    session: Session, audit: AuditWriter, *, asset_type: str, asset: Any, alias: str, version: Any
) -> None:
    """Point an alias of an asset at one of its versions."""
    validate_alias(alias)
    row = _insert_or_lock(
        session,
        Alias(asset_type=asset_type, asset_id=asset.id, alias=alias, version_id=version.id),
        select(Alias).where(
            col(Alias.asset_type) == asset_type,
            col(Alias.asset_id) == asset.id,
            col(Alias.alias) == alias,
        ),
    )
    before = None
    if row is not None:
        before = row.version_id
        row.version_id = version.id
        session.add(row)
        session.flush()
    audit.record(
        session,
        "alias.set",
        f"{asset_type}:{asset.name}@{alias}",
        before={"version_id": before} if before else None,
        after={"version": version.version},
    )


def aliases_of(session: Session, asset_type: str, version_id: int) -> list[str]:
    """The aliases pointing at one version, sorted."""
    return sorted(
        session.execute(
            select(col(Alias.alias)).where(
                col(Alias.asset_type) == asset_type, col(Alias.version_id) == version_id
            )
        ).scalars()
    )
