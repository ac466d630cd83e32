"""Assets (the named things that have versions): finding, creating, listing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from lmops_core.errors import AlreadyExistsError, NotFoundError, ValidationError
from lmops_core.redaction import redact
from lmops_core.registry.db import hold_rows
from lmops_core.registry.models import utcnow
from lmops_core.registry.names import clean_name, normalize_name
from lmops_core.registry.store.tables import asset_classes
from lmops_core.registry.store.writer import AuditWriter
from lmops_core.vocabulary import RISK_TIERS


def _insert_for(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def get_asset(session: Session, asset_type: str, name: str) -> Any:
    """The asset with this (normalised) name, or ``NotFoundError``."""
    asset_cls, _, _ = asset_classes(asset_type)
    key = normalize_name(name)
    row = (
        session.execute(select(asset_cls).where(asset_cls.normalized_name == key)).scalars().first()
    )
    if row is None:
        missing = f"{asset_type} {clean_name(name)!r} does not exist"
        raise NotFoundError(missing + _elsewhere(session, asset_type, name), asset=name)
    return row


def _elsewhere(session: Session, asset_type: str, name: str) -> str:
    """A hint naming the assets of other types that hold ``name`` (a reference without a
    type prefix is read as the caller's default type, often ``model``), else ``""``."""
    from lmops_core.contracts import ASSET_TYPES

    key, found = normalize_name(name), []
    for other in ASSET_TYPES:
        other_cls, _, _ = asset_classes(other)
        held = select(other_cls.id).where(other_cls.normalized_name == key)
        if other != asset_type and session.execute(held).first():
            found.append(f"{other}:{clean_name(name)}")
    return f" (but {' and '.join(found)} does: write the type prefix)" if found else ""


def check_risk_tier(risk_tier: str | None) -> None:
    if risk_tier is not None and risk_tier not in RISK_TIERS:
        raise ValidationError(
            f"invalid risk tier {risk_tier!r} (expected one of {', '.join(RISK_TIERS)})",
            field="risk_tier",
        )


def ensure_asset(
    session: Session,
    audit: AuditWriter,
    *,
    asset_type: str,
    name: str,
    description: str = "",
    risk_tier: str | None = None,
    must_create: bool = False,
) -> Any:
    """Get the asset, creating it (and its audit event) when absent.

    Creation is race-free on both databases: ``INSERT ... ON CONFLICT DO
    NOTHING`` on the normalised name, then a read. With ``must_create`` an
    existing asset is an :class:`AlreadyExistsError`.
    """
    asset_cls, _, _ = asset_classes(asset_type)
    display = clean_name(name)
    key = normalize_name(name)
    check_risk_tier(risk_tier)
    if not must_create:
        existing = (
            session.execute(select(asset_cls).where(asset_cls.normalized_name == key))
            .scalars()
            .first()
        )
        if existing is not None:
            hold_rows(session, existing)
            return existing
    values: dict[str, Any] = {
        "name": display,
        "normalized_name": key,
        "description": redact(description),
        "latest_version": 0,
        "created_at": utcnow(),
        "created_by": audit.actor,
    }
    if asset_type in ("model", "prompt", "guard"):
        values["risk_tier"] = risk_tier or "standard"
    stmt = (
        _insert_for(session)(asset_cls)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["normalized_name"])
        .returning(asset_cls.id)
    )
    created_id = session.execute(stmt).scalar()
    row = session.execute(select(asset_cls).where(asset_cls.normalized_name == key)).scalars().one()
    hold_rows(session, row)
    if created_id is None:
        if must_create:
            raise AlreadyExistsError(
                f"{asset_type} {display!r} already exists as {row.name!r} "
                "(names are compared after decoding and normalisation)",
                asset=display,
            )
        return row
    audit.record(
        session,
        f"{asset_type}.create",
        f"{asset_type}:{display}",
        after={k: v for k, v in values.items() if k != "created_at"},
    )
    return row


def list_assets(session: Session, asset_type: str) -> list[Any]:
    """Every asset of ``asset_type``, by normalised name."""
    asset_cls, _, _ = asset_classes(asset_type)
    return list(session.execute(select(asset_cls).order_by(asset_cls.normalized_name)).scalars())
