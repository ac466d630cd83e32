"""Reading versions: resolving references, a version's asset and ref, listings."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlmodel import Session, col

from lmops_core.contracts import AssetType
from lmops_core.errors import NotFoundError, ValidationError
from lmops_core.registry.db import SNAPSHOT_MEMO, hold_rows
from lmops_core.registry.models import Alias
from lmops_core.registry.names import VersionRef, normalize_name, parse_ref
from lmops_core.registry.store.assets import get_asset
from lmops_core.registry.store.tables import asset_classes, version_ref


def resolve(
    session: Session, ref: str | VersionRef, asset_type: AssetType | None = None
) -> tuple[Any, Any]:
    """``(asset, version)`` for a reference, or ``NotFoundError`` naming it.

    Within a read snapshot (:meth:`Database.snapshot`) a reference is resolved once.
    """
    parsed = parse_ref(ref, asset_type=asset_type) if isinstance(ref, str) else ref
    typ = parsed.asset_type or asset_type
    if typ is None:
        raise ValidationError(
            f"reference {str(ref)!r} needs an asset type prefix (dataset:, model:, prompt: or suite:)",
            field="ref",
        )
    memo: dict[Any, Any] | None = session.info.get(SNAPSHOT_MEMO)
    if memo is None:
        return _resolve(session, parsed, typ, ref)
    key = ("resolve", typ, normalize_name(parsed.name), parsed.version, parsed.alias)
    found = memo.get(key)
    if found is None:
        found = memo[key] = _resolve(session, parsed, typ, ref)
    return found


def _resolve(
    session: Session, parsed: VersionRef, typ: str, ref: str | VersionRef
) -> tuple[Any, Any]:
    asset_cls, version_cls, fk = asset_classes(typ)
    if parsed.alias is None:
        # The common case in one joined query; a miss falls through to the two
        # steps below, which say whether the asset or the version is missing.
        found = session.execute(
            _by_name_and_number(typ, latest=parsed.version is None),
            {"name": normalize_name(parsed.name), "number": parsed.version},
        ).first()
        if found is not None:
            hold_rows(session, found[0])
            return found[0], found[1]
    asset = get_asset(session, typ, parsed.name)
    if parsed.alias is not None:
        alias = (
            session.execute(
                select(Alias).where(
                    col(Alias.asset_type) == typ,
                    col(Alias.asset_id) == asset.id,
                    col(Alias.alias) == parsed.alias,
                )
            )
            .scalars()
            .first()
        )
        if alias is None:
            raise NotFoundError(f"{typ} {asset.name!r} has no alias {parsed.alias!r}", ref=str(ref))
        row = session.get(version_cls, alias.version_id)
    else:
        number = parsed.version if parsed.version is not None else asset.latest_version
        row = (
            session.execute(
                select(version_cls).where(
                    getattr(version_cls, fk) == asset.id, version_cls.version == number
                )
            )
            .scalars()
            .first()
        )
    if row is None:
        raise NotFoundError(f"{typ} version {str(ref)!r} does not exist", ref=str(ref))
    hold_rows(session, asset)
    return asset, row


@functools.cache
def _by_name_and_number(asset_type: str, *, latest: bool) -> Select[Any]:
    """The joined (asset, version) query by normalised name and version number (or the
    latest), built once per type: references are resolved on every run, and building the
    statement cost more than running it."""
    asset_cls, version_cls, fk = asset_classes(asset_type)
    number = asset_cls.latest_version if latest else bindparam("number")
    return (
        select(asset_cls, version_cls)
        .join(version_cls, getattr(version_cls, fk) == asset_cls.id)
        .where(asset_cls.normalized_name == bindparam("name"), version_cls.version == number)
    )


def asset_of(session: Session, asset_type: str, version: Any) -> Any:
    """The asset a version row belongs to."""
    asset_cls, _, fk = asset_classes(asset_type)
    asset = session.get(asset_cls, getattr(version, fk))
    hold_rows(session, asset)
    return asset


def ref_of(session: Session, asset_type: str, version: Any) -> str:
    """The canonical reference (``type:name@N``) of a version row."""
    return version_ref(asset_type, asset_of(session, asset_type, version).name, version.version)


def list_versions(session: Session, asset_type: str, name: str) -> list[Any]:
    """Every version of the asset ``name``, oldest first."""
    asset = get_asset(session, asset_type, name)
    _, version_cls, fk = asset_classes(asset_type)
    return list(
        session.execute(
            select(version_cls)
            .where(getattr(version_cls, fk) == asset.id)
            .order_by(version_cls.version)
        ).scalars()
    )


def version_by_id(session: Session, asset_type: str, version_id: int) -> Any:
    """The version row with this id, or ``NotFoundError``."""
    _, version_cls, _ = asset_classes(asset_type)
    row = session.get(version_cls, version_id)
    if row is None:
        raise NotFoundError(f"{asset_type} version id {version_id} does not exist")
    return row
