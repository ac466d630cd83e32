"""The metadata store: every registry write, each with its audit event.

Functions here take an open write session and an :class:`AuditWriter`; the
caller owns the transaction, so a stage that registers three versions, their
evidence and lineage commits all of it, with its audit events, or none.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, bindparam, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from lmops_core.audit import postgres as audit_postgres
from lmops_core.audit.chain import AuditAnchor, CanonicalJSON, append_event, canonical_json
from lmops_core.contracts import AssetType
from lmops_core.digests import parse_digest
from lmops_core.errors import (
    AlreadyExistsError,
    IntegrityError,
    NotFoundError,
    ValidationError,
)
from lmops_core.redaction import redact, redact_text
from lmops_core.registry.models import (
    Alias,
    AuditHead,
    Dataset,
    DatasetVersion,
    Evidence,
    LineageEdge,
    Model,
    ModelVersion,
    Prompt,
    PromptVersion,
    Run,
    Suite,
    SuiteVersion,
    VersionMetric,
    VersionTag,
    utcnow,
)
from lmops_core.registry.names import (
    VersionRef,
    clean_name,
    normalize_name,
    parse_ref,
    validate_alias,
)
from lmops_core.registry.plain_text import check_json_text, check_text
from lmops_core.vocabulary import RISK_TIERS as RISK_TIERS

AssetRow = Dataset | Model | Prompt
VersionRow = DatasetVersion | ModelVersion | PromptVersion

_ASSETS: dict[str, tuple[type[Any], type[Any], str]] = {
    "dataset": (Dataset, DatasetVersion, "dataset_id"),
    "model": (Model, ModelVersion, "model_id"),
    "prompt": (Prompt, PromptVersion, "prompt_id"),
    "suite": (Suite, SuiteVersion, "suite_id"),
}


def asset_classes(asset_type: str) -> tuple[type[Any], type[Any], str]:
    """Table classes and foreign-key column for an asset type."""
    try:
        return _ASSETS[asset_type]
    except KeyError:
        raise ValidationError(
            f"unknown asset type {asset_type!r} (expected dataset, model, prompt or suite)",
            field="asset_type",
        ) from None


@dataclass(frozen=True)
class AuditWriter:
    """Appends audit events with the workspace's key, as one actor."""

    key: bytes
    actor: str
    #: The workspace's knowledge of the chain beyond the database (newest checkpoint).
    anchor: AuditAnchor | None = None
    #: How ``actor`` was established (``token``, ``personal-key``, ``os-user``, ``asserted``);
    #: recorded with each new version, so separation of duties knows whether its author is
    #: known or only named.
    identity: str = "asserted"

    def record(
        self, session: Session, action: str, subject: str, *, before: Any = None, after: Any = None
    ) -> None:
        # Secrets never reach the audit log (lmops_core.redaction).
        append_event(
            session,
            key=self.key,
            actor=self.actor,
            action=action,
            subject=subject,
            before=redact(before),
            after=redact(after),
            anchor=self.anchor,
        )


def author_identity(session: Session, asset_type: str, ref: str) -> str:
    """How the author of version ``ref`` was established when it was registered.

    Read from the version's audit event (``<type>_version.create``); a version
    registered before this was recorded, or whose event is missing, is
    ``asserted``: an author nobody verified.
    """
    row = (
        session.connection()
        .execute(
            text(
                "SELECT after FROM audit_events WHERE subject = :ref AND action = :action "
                "ORDER BY seq LIMIT 1"
            ),
            {"ref": ref, "action": f"{asset_type}_version.create"},
        )
        .first()
    )
    if row is None:
        return "asserted"
    try:
        after = json.loads(row[0]) if isinstance(row[0], str) else row[0]
    except ValueError:
        return "asserted"
    method = after.get("identity") if isinstance(after, dict) else None
    return method if isinstance(method, str) else "asserted"


def version_ref(asset_type: str, name: str, version: int) -> str:
    """The canonical reference string of a version."""
    return f"{asset_type}:{name}@{version}"


# --- assets ------------------------------------------------------------------


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
        raise NotFoundError(f"{asset_type} {clean_name(name)!r} does not exist", asset=name)
    return row


def _check_risk_tier(risk_tier: str | None) -> None:
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
    _check_risk_tier(risk_tier)
    if not must_create:
        existing = (
            session.execute(select(asset_cls).where(asset_cls.normalized_name == key))
            .scalars()
            .first()
        )
        if existing is not None:
            return existing
    values: dict[str, Any] = {
        "name": display,
        "normalized_name": key,
        "description": redact(description),
        "latest_version": 0,
        "created_at": utcnow(),
        "created_by": audit.actor,
    }
    if asset_type in ("model", "prompt"):
        values["risk_tier"] = risk_tier or "standard"
    stmt = (
        _insert_for(session)(asset_cls)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["normalized_name"])
        .returning(asset_cls.id)
    )
    created_id = session.execute(stmt).scalar()
    row = session.execute(select(asset_cls).where(asset_cls.normalized_name == key)).scalars().one()
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
    asset_cls, _, _ = asset_classes(asset_type)
    return list(session.execute(select(asset_cls).order_by(asset_cls.normalized_name)).scalars())


# --- versions ----------------------------------------------------------------


def _allocate_version(session: Session, asset_cls: type[Any], asset_id: int) -> int:
    # One statement increments and returns the counter: a row lock on
    # PostgreSQL, and SQLite's write transaction is already exclusive.
    stmt = (
        update(asset_cls)
        .where(asset_cls.id == asset_id)
        .values(latest_version=asset_cls.latest_version + 1)
        .returning(asset_cls.latest_version)
    )
    return int(session.execute(stmt).scalar_one())


_NEXT_VERSION_PG: dict[tuple[Any, ...], tuple[Any, tuple[tuple[str, Any, Any], ...]]] = {}


def _next_version_pg_sql(
    version_cls: type[Any], asset_cls: type[Any], fk: str, by_id: bool, held: bool
) -> tuple[Any, tuple[tuple[str, Any, Any], ...]]:
    """The statement of :func:`_insert_next_version_pg`, built once per shape (building
    it is most of a version's client CPU), with the version's columns as parameters
    ``v_<column>``; and each such column's ``(name, default, default_factory)``."""
    key = (version_cls, by_id, held)
    if key not in _NEXT_VERSION_PG:
        _NEXT_VERSION_PG[key] = _build_next_version_pg_sql(version_cls, asset_cls, fk, by_id, held)
    return _NEXT_VERSION_PG[key]


def _build_next_version_pg_sql(
    version_cls: type[Any], asset_cls: type[Any], fk: str, by_id: bool, held: bool
) -> tuple[Any, tuple[tuple[str, Any, Any], ...]]:
    table = version_cls.__table__
    columns = []
    for c in table.columns:
        if c.name in ("id", "version", fk):
            continue
        info = version_cls.model_fields[c.name]
        # A plain default only: required fields and default factories have none.
        default = None if info.is_required() or info.default_factory is not None else info.default
        columns.append((c.name, default, info.default_factory))
    match = asset_cls.id if by_id else asset_cls.normalized_name
    nxt = (
        update(asset_cls)
        .where(match == bindparam("asset_match"))
        .values(latest_version=asset_cls.latest_version + 1)
        .returning(
            asset_cls.id.label("asset_id"),
            asset_cls.name.label("asset_name"),
            asset_cls.latest_version.label("n"),
        )
        .cte("nxt")
    )
    source = select(
        *[bindparam(f"v_{name}", type_=table.c[name].type).label(name) for name, _, _ in columns],
        nxt.c.asset_id,
        nxt.c.n,
    )
    stmt = insert(version_cls).from_select([*(c[0] for c in columns), fk, "version"], source)
    extra = [select(nxt.c.asset_name).scalar_subquery()]
    if not held:
        head = (
            select(col(AuditHead.seq), col(AuditHead.hash), col(AuditHead.signature))
            .where(col(AuditHead.id) == 1)
            .with_for_update()
            .cte("head")
        )
        extra += [select(c).scalar_subquery() for c in head.c]
    # "orm": the parameters are this statement's own, not rows of a bulk insert.
    return (
        stmt.returning(version_cls, *extra).execution_options(dml_strategy="orm"),
        tuple(columns),
    )


def _insert_next_version_pg(
    session: Session,
    audit: AuditWriter,
    asset_cls: type[Any],
    version_cls: type[Any],
    fk: str,
    asset_match: int | str,
    values: Mapping[str, Any],
) -> tuple[Any, str] | None:
    """Allocate the next version number of the asset ``asset_match`` names (its id, or
    its normalised name) and insert a version with ``values``, in one statement;
    ``(version row, asset's name)``, or ``None`` when no asset matches (nothing is
    written then).

    The ``UPDATE ... RETURNING`` in the CTE takes the asset's row lock, as
    :func:`_allocate_version` does, and the insert follows in the same round
    trip. Unless this transaction already holds it, the same statement then locks
    and reads the audit chain's head (in ``RETURNING``, so always after the asset's
    lock: one lock order for every writer), which the version's audit event will
    extend: every writer of the asset queues on these locks, and each round trip
    made while holding them costs them all (see :mod:`lmops_core.audit.postgres`).
    """
    held = audit_postgres.holds_head(session)
    stmt, columns = _next_version_pg_sql(
        version_cls, asset_cls, fk, isinstance(asset_match, int), held
    )
    # The model's own defaults (stage, status, created_at...), as an ORM insert would use.
    params = {
        f"v_{name}": values[name]
        if name in values
        else factory()
        if factory is not None
        else default
        for name, default, factory in columns
    }
    params["asset_match"] = asset_match
    try:
        result = session.execute(stmt, params).first()
    except sa_exc.ProgrammingError as exc:  # a dropped audit table: a verdict, not a traceback
        if held:
            raise
        audit_postgres.refuse_unreadable(exc, audit.anchor)
    if result is None:
        return None
    if not held:
        audit_postgres.adopt_locked_head(session, result[2:], key=audit.key, anchor=audit.anchor)
    return result[0], str(result[1])


def create_version(
    session: Session,
    audit: AuditWriter,
    *,
    asset_type: AssetType,
    name: str,
    fields: Mapping[str, Any],
    description: str = "",
    risk_tier: str | None = None,
    run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Any:
    """Create the next version of an asset (creating the asset when new), with its tags."""
    check_text(description, "description")
    for key, value in (tags or {}).items():
        check_text(key, "tag key")
        check_text(value, "tag value")
    if "meta" in fields:
        fields = {**fields, "meta": _json_clean(fields["meta"], "meta")}
    asset_cls, version_cls, fk = asset_classes(asset_type)
    parse_digest(fields["digest"])
    # Everything that does not need the version number happens before it is allocated:
    # from the allocation to the commit, every other writer of this asset waits.
    for key, value in (tags or {}).items():
        if not key or len(key) > 128:
            raise ValidationError("tag keys must be 1-128 characters", field="tags")
        if not isinstance(value, str) or len(value) > 512:
            raise ValidationError(
                f"tag {key!r}: values are text of at most 512 characters", field=f"tags.{key}"
            )
    tags = {k: redact_text(v) for k, v in tags.items()} if tags else tags
    fields = {**fields, "meta": redact(fields["meta"])} if "meta" in fields else fields
    values = {
        "created_by": audit.actor,
        **({"run_id": run_id} if run_id and asset_type != "prompt" else {}),
        **fields,
    }
    event_after = CanonicalJSON(
        canonical_json(
            redact(
                {k: v for k, v in fields.items() if k not in ("template",)}
                | ({"run_id": run_id} if run_id else {})
                | ({"tags": dict(tags)} if tags else {})
                | {"identity": audit.identity}
            )
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        _check_risk_tier(risk_tier)
        # An existing asset is found, locked and given its version by the insert itself;
        # only a new asset costs a round trip (and an event) of its own.
        got = _insert_next_version_pg(
            session, audit, asset_cls, version_cls, fk, normalize_name(name), values
        )
        if got is None:
            asset = ensure_asset(
                session,
                audit,
                asset_type=asset_type,
                name=name,
                description=description,
                risk_tier=risk_tier,
            )
            got = _insert_next_version_pg(
                session, audit, asset_cls, version_cls, fk, int(asset.id), values
            )
        if got is None:
            raise NotFoundError(
                f"{asset_type} {clean_name(name)!r} was deleted while a version was being added",
                asset=name,
            )
        row, asset_name = got
        number = row.version
    else:
        asset = ensure_asset(
            session,
            audit,
            asset_type=asset_type,
            name=name,
            description=description,
            risk_tier=risk_tier,
        )
        asset_name = asset.name
        row = version_cls(**{fk: asset.id, "version": 0, **values})
        number = row.version = _allocate_version(session, asset_cls, asset.id)
        session.add(row)
        session.flush()
    if tags:
        session.execute(
            insert(VersionTag),
            [
                {"subject_type": asset_type, "subject_id": row.id, "key": k, "value": v}
                for k, v in tags.items()
            ],
        )
    ref = version_ref(asset_type, asset_name, number)
    audit.record(session, f"{asset_type}_version.create", ref, after=event_after)
    return row


def resolve(
    session: Session, ref: str | VersionRef, asset_type: AssetType | None = None
) -> tuple[Any, Any]:
    """``(asset, version)`` for a reference, or ``NotFoundError`` naming it."""
    parsed = parse_ref(ref, asset_type=asset_type) if isinstance(ref, str) else ref
    typ = parsed.asset_type or asset_type
    if typ is None:
        raise ValidationError(
            f"reference {str(ref)!r} needs an asset type prefix (dataset:, model:, prompt: or suite:)",
            field="ref",
        )
    asset = get_asset(session, typ, parsed.name)
    _, version_cls, fk = asset_classes(typ)
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
    return asset, row


def asset_of(session: Session, asset_type: str, version: Any) -> Any:
    asset_cls, _, fk = asset_classes(asset_type)
    return session.get(asset_cls, getattr(version, fk))


def ref_of(session: Session, asset_type: str, version: Any) -> str:
    return version_ref(asset_type, asset_of(session, asset_type, version).name, version.version)


def list_versions(session: Session, asset_type: str, name: str) -> list[Any]:
    asset = get_asset(session, asset_type, name)
    _, version_cls, fk = asset_classes(asset_type)
    return list(
        session.execute(
            select(version_cls)
            .where(getattr(version_cls, fk) == asset.id)
            .order_by(version_cls.version)
        ).scalars()
    )


# --- tags, aliases, metrics ----------------------------------------------------


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


def tags_of(session: Session, asset_type: str, version_id: int) -> dict[str, str]:
    rows = session.execute(
        select(VersionTag).where(
            col(VersionTag.subject_type) == asset_type, col(VersionTag.subject_id) == version_id
        )
    ).scalars()
    return {t.key: t.value for t in rows}


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
    return sorted(
        session.execute(
            select(col(Alias.alias)).where(
                col(Alias.asset_type) == asset_type, col(Alias.version_id) == version_id
            )
        ).scalars()
    )


def _numeric_metrics(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            out[f"{prefix}{key}"] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            out[f"{prefix}{key}"] = float(value)
    return out


def record_metrics(
    session: Session, *, asset_type: str, version_id: int, metrics: Mapping[str, float]
) -> None:
    """Index numeric metrics of a version for threshold search."""
    if metrics:
        session.execute(
            insert(VersionMetric),
            [
                {"subject_type": asset_type, "subject_id": version_id, "key": k, "value": v}
                for k, v in metrics.items()
            ],
        )


# --- evidence and lineage ----------------------------------------------------------


def evidence_digest(body: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _json_clean(value: Any, where: str) -> Any:
    try:
        clean = json.loads(json.dumps(value, allow_nan=False, default=str))
    except ValueError as exc:
        raise ValidationError(f"{where} is not valid JSON (NaN or infinity?): {exc}") from exc
    except RecursionError:
        raise ValidationError(f"{where} is nested too deeply") from None
    check_json_text(clean, where)
    return clean


def attach_evidence(
    session: Session,
    audit: AuditWriter,
    *,
    asset_type: str,
    version: Any,
    expected_digest: str,
    kind: str,
    stage: str,
    plugin: str,
    metrics: Mapping[str, Any],
    details: Mapping[str, Any] | None = None,
    artifacts: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Evidence:
    """Attach immutable evidence, refusing if the version's digest is not ``expected_digest``."""
    if version.digest != expected_digest:
        raise IntegrityError(
            f"evidence {kind!r} was computed on {expected_digest}, but "
            f"{ref_of(session, asset_type, version)} has digest {version.digest}; "
            "evidence attaches only to the exact content it was measured on",
        )
    if not isinstance(kind, str) or not kind or len(kind) > 64:
        raise ValidationError("evidence kind must be 1-64 characters", field="kind")
    check_text(kind, "evidence kind")
    for what, value in (("metrics", metrics), ("details", details or {})):
        if not isinstance(value, Mapping):
            raise ValidationError(
                f"evidence {kind!r} {what} must be an object of names to "
                f"values, got {type(value).__name__}",
                field=what,
            )
    for name, digest in (artifacts or {}).items():
        parse_digest(digest)
        if not name:
            raise ValidationError("evidence artifact names must not be empty", field="artifacts")
    body = {
        "subject": ref_of(session, asset_type, version),
        "subject_digest": version.digest,
        "kind": kind,
        "stage": stage,
        "plugin": plugin,
        "run_id": run_id,
        "metrics": redact(_json_clean(dict(metrics), f"evidence {kind!r} metrics")),
        "details": redact(_json_clean(dict(details or {}), f"evidence {kind!r} details")),
        "artifacts": dict(artifacts or {}),
    }
    row = Evidence(
        subject_type=asset_type,
        subject_id=version.id,
        subject_digest=version.digest,
        kind=kind,
        stage=stage,
        plugin=plugin,
        run_id=run_id,
        metrics=body["metrics"],
        details=body["details"],
        artifacts=body["artifacts"],
        digest=evidence_digest(body),
        created_by=audit.actor,
    )
    session.add(row)
    record_metrics(
        session,
        asset_type=asset_type,
        version_id=version.id,
        metrics=_numeric_metrics(f"{kind}.", body["metrics"]),
    )
    session.flush()
    audit.record(
        session,
        "evidence.attach",
        body["subject"],
        after={
            "kind": kind,
            "evidence_id": row.id,
            "digest": row.digest,
            "plugin": plugin,
            "run_id": run_id,
        },
    )
    return row


def list_evidence(
    session: Session, asset_type: str, version_id: int, kind: str | None = None
) -> list[Evidence]:
    q = select(Evidence).where(
        col(Evidence.subject_type) == asset_type, col(Evidence.subject_id) == version_id
    )
    if kind:
        q = q.where(col(Evidence.kind) == kind)
    return list(session.execute(q.order_by(col(Evidence.id))).scalars())


def add_lineage(
    session: Session,
    audit: AuditWriter,
    *,
    child_type: str,
    child: Any,
    parent_type: str,
    parent: Any,
    relation: str = "derived_from",
    run_id: str | None = None,
) -> None:
    """Record that ``child`` was derived from ``parent``."""
    if child_type == parent_type and child.id == parent.id:
        raise ValidationError("a version cannot be derived from itself", field="lineage")
    session.add(
        LineageEdge(
            child_type=child_type,
            child_id=child.id,
            parent_type=parent_type,
            parent_id=parent.id,
            relation=relation,
            run_id=run_id,
        )
    )
    session.flush()
    audit.record(
        session,
        "lineage.add",
        ref_of(session, child_type, child),
        after={
            "parent": ref_of(session, parent_type, parent),
            "relation": relation,
            "run_id": run_id,
        },
    )


def lineage_edges(
    session: Session, asset_type: str, version_id: int, direction: Literal["up", "down"] = "up"
) -> list[LineageEdge]:
    if direction == "up":
        cond = and_(
            col(LineageEdge.child_type) == asset_type, col(LineageEdge.child_id) == version_id
        )
    else:
        cond = and_(
            col(LineageEdge.parent_type) == asset_type, col(LineageEdge.parent_id) == version_id
        )
    return list(
        session.execute(select(LineageEdge).where(cond).order_by(col(LineageEdge.id))).scalars()
    )


def version_by_id(session: Session, asset_type: str, version_id: int) -> Any:
    _, version_cls, _ = asset_classes(asset_type)
    row = session.get(version_cls, version_id)
    if row is None:
        raise NotFoundError(f"{asset_type} version id {version_id} does not exist")
    return row


# --- runs --------------------------------------------------------------------------


def record_run(session: Session, audit: AuditWriter, run: Run) -> Run:
    """Insert a finished (succeeded or failed) run and audit it."""
    session.add(run)
    session.flush()
    audit.record(
        session,
        f"run.{run.status}",
        f"run:{run.id}",
        after={
            "stage": run.stage,
            "operation": run.operation,
            "plugin": run.plugin,
            "inputs": run.inputs,
            "error": run.error,
        },
    )
    return run


# --- search --------------------------------------------------------------------------

_OPS = {
    ">=": "__ge__",
    "<=": "__le__",
    ">": "__gt__",
    "<": "__lt__",
    "==": "__eq__",
    "!=": "__ne__",
}


@dataclass(frozen=True)
class MetricFilter:
    """``key op value`` over indexed version metrics, e.g. ``eval.acc >= 0.6``."""

    key: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> MetricFilter:
        for op in (">=", "<=", "==", "!=", ">", "<"):
            if op in text:
                key, _, raw = text.partition(op)
                try:
                    return cls(key.strip(), op, float(raw))
                except ValueError:
                    break
        raise ValidationError(
            f"invalid metric filter {text!r}: expected KEY OP NUMBER, e.g. 'eval.acc>=0.6'",
            field="metric",
        )


def search_versions(
    session: Session,
    asset_type: AssetType,
    *,
    name: str | None = None,
    kind: str | None = None,
    stage: str | None = None,
    tags: Mapping[str, str] | None = None,
    metrics: Sequence[MetricFilter] = (),
    limit: int = 100,
    offset: int = 0,
) -> list[tuple[Any, Any]]:
    """Versions matching every given filter, newest first, as ``(asset, version)``."""
    asset_cls, version_cls, fk = asset_classes(asset_type)
    q = select(asset_cls, version_cls).join(asset_cls, getattr(version_cls, fk) == asset_cls.id)
    if name and "*" in name:
        # Wildcards match normalised names: fold separators and case like normalize_name.
        pattern = re.sub(r"[._-]+", "-", name.lower()).replace("*", "%")
        q = q.where(asset_cls.normalized_name.like(pattern))
    elif name:
        q = q.where(asset_cls.normalized_name == normalize_name(name))
    if kind:
        column = (
            version_cls.shape if asset_type == "dataset" else getattr(version_cls, "kind", None)
        )
        if column is None:
            raise ValidationError(f"{asset_type} versions have no kind", field="kind")
        q = q.where(column == kind)
    if stage:
        q = q.where(version_cls.stage == stage)
    # Correlated EXISTS probes, not IN (subquery): walking versions newest first and
    # probing an index per row stops after `limit` matches, where IN would first
    # materialise every matching metric row (tens of thousands for 'acc >= 0.5').
    for key, value in (tags or {}).items():
        q = q.where(
            select(col(VersionTag.id))
            .where(
                col(VersionTag.subject_type) == asset_type,
                col(VersionTag.subject_id) == version_cls.id,
                col(VersionTag.key) == key,
                col(VersionTag.value) == value,
            )
            .exists()
        )
    for mf in metrics:
        if mf.op not in _OPS:
            raise ValidationError(f"invalid metric operator {mf.op!r}", field="metric")
        cmp = getattr(VersionMetric.value, _OPS[mf.op])(mf.value)
        q = q.where(
            select(col(VersionMetric.id))
            .where(
                col(VersionMetric.subject_type) == asset_type,
                col(VersionMetric.subject_id) == version_cls.id,
                col(VersionMetric.key) == mf.key,
                cmp,
            )
            .exists()
        )
    q = q.order_by(version_cls.id.desc()).limit(max(1, min(limit, 10_000))).offset(max(0, offset))
    return [(a, v) for a, v in session.execute(q).all()]
