"""Writing versions: the next number of an asset and its row, in as few round trips as
the database allows (every other writer of the asset waits meanwhile)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlmodel import Session

from lmops_core.audit import postgres as audit_postgres
from lmops_core.audit.chain import CanonicalJSON, canonical_json
from lmops_core.contracts import AssetType
from lmops_core.digests import parse_digest
from lmops_core.errors import NotFoundError, ValidationError
from lmops_core.redaction import redact, redact_text
from lmops_core.registry.models import VersionTag
from lmops_core.registry.names import clean_name, normalize_name
from lmops_core.registry.plain_text import check_text, json_clean
from lmops_core.registry.store.assets import check_risk_tier, ensure_asset
from lmops_core.registry.store.tables import asset_classes, version_ref
from lmops_core.registry.store.writer import AuditWriter, locked_head_columns


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
        extra += locked_head_columns()
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
        fields = {**fields, "meta": json_clean(fields["meta"], "meta")}
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

    def the_asset() -> Any:
        return ensure_asset(
            session,
            audit,
            asset_type=asset_type,
            name=name,
            description=description,
            risk_tier=risk_tier,
        )

    if session.get_bind().dialect.name == "postgresql":
        check_risk_tier(risk_tier)
        # An existing asset is found, locked and given its version by the insert itself;
        # only a new asset costs a round trip (and an event) of its own.
        got = _insert_next_version_pg(
            session, audit, asset_cls, version_cls, fk, normalize_name(name), values
        )
        if got is None:
            asset = the_asset()
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
        asset = the_asset()
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
