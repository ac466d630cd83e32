"""Evidence attached to a version, and the index of its numeric metrics for search."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import bindparam, insert, select
from sqlmodel import Session, col

from lmops_core.audit.chain import canonical_json
from lmops_core.digests import parse_digest
from lmops_core.errors import IntegrityError, ValidationError
from lmops_core.redaction import redact
from lmops_core.registry.db import SNAPSHOT_MEMO
from lmops_core.registry.models import Evidence, VersionMetric, utcnow
from lmops_core.registry.plain_text import check_text, json_clean
from lmops_core.registry.store.refs import ref_of
from lmops_core.registry.store.writer import AuditWriter


def numeric_metrics(prefix: str, metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric (and boolean, as 0/1) finite metrics of ``metrics``, keys prefixed."""
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


def evidence_digest(body: Mapping[str, Any]) -> str:
    """The content digest of an evidence body (its canonical JSON)."""
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


#: Built once: every attached record is inserted with it.
PAIRED_SUBJECTS: tuple[str, ...] = ("prompt", "guard")
"""Asset types whose evidence may name the model version it was measured with: a prompt's
answers and a guard's probes both come from a model."""

_INSERT_EVIDENCE = insert(Evidence.__table__).returning(  # type: ignore[attr-defined]
    Evidence.__table__.c.id  # type: ignore[attr-defined]
)


class EvidenceFields(TypedDict):
    """What :func:`attach_evidence` and :func:`evidence_values` take besides the session and
    the audit writer (their keyword arguments, named once)."""

    asset_type: str
    version: Any
    expected_digest: str
    kind: str
    stage: str
    plugin: str
    metrics: Mapping[str, Any]
    details: NotRequired[Mapping[str, Any] | None]
    artifacts: NotRequired[Mapping[str, str] | None]
    run_id: NotRequired[str | None]
    paired: NotRequired[Any | None]


def attach_evidence(
    session: Session, audit: AuditWriter, **fields: Unpack[EvidenceFields]
) -> Evidence:
    """Attach immutable evidence, refusing if the version's digest is not ``expected_digest``.

    ``paired`` is the model version row the result was measured with, for evidence about
    a prompt version (the pair); evidence about a model takes none.
    """
    values, subject = evidence_values(session, audit, **fields)
    evidence_id = insert_evidence(session, values)
    record_attached(session, audit, evidence_id, values, subject)
    return Evidence(id=evidence_id, **values)


def insert_evidence(session: Session, values: Mapping[str, Any]) -> int:
    """Insert the evidence row of ``values`` (as :func:`evidence_values` made them); its id."""
    # One plain INSERT ... RETURNING id: no unit-of-work flush (this runs in every decision).
    return int(session.execute(_INSERT_EVIDENCE, dict(values)).scalar_one())


def evidence_values(
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
    paired: Any | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The checked column values of the evidence :func:`attach_evidence` inserts (all but
    its id), and what its audit event says of the subject (``subject``, and ``paired``
    when paired): for a caller that inserts the row in a statement of its own and then
    calls :func:`record_attached`."""
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
        "metrics": redact(json_clean(dict(metrics), f"evidence {kind!r} metrics")),
        "details": redact(json_clean(dict(details or {}), f"evidence {kind!r} details")),
        "artifacts": dict(artifacts or {}),
    }
    subject = {"subject": body["subject"]}
    if paired is not None:
        if asset_type not in PAIRED_SUBJECTS:
            raise ValidationError(
                f"evidence {kind!r} on {body['subject']}: only evidence about a prompt or "
                "guard version is paired with a model version",
                field="paired",
            )
        # Only paired evidence carries the key, so digests of unpaired evidence are unchanged.
        body["paired"] = subject["paired"] = ref_of(session, "model", paired)
        body["paired_digest"] = paired.digest
    values: dict[str, Any] = {
        "subject_type": asset_type,
        "subject_id": version.id,
        **{
            name: value
            for name, value in body.items()
            if name not in ("subject", "paired", "paired_digest")
        },
        "paired_model_version_id": None if paired is None else paired.id,
        "digest": evidence_digest(body),
        "created_at": utcnow(),
        "created_by": audit.actor,
    }
    return values, subject


def record_attached(
    session: Session,
    audit: AuditWriter,
    evidence_id: int,
    values: Mapping[str, Any],
    subject: Mapping[str, Any],
) -> None:
    """Index the numeric metrics of the evidence just inserted (``evidence_id``, with the
    column ``values`` and ``subject`` :func:`evidence_values` returned) and audit it."""
    record_metrics(
        session,
        asset_type=values["subject_type"],
        version_id=values["subject_id"],
        metrics=numeric_metrics(f"{values['kind']}.", values["metrics"]),
    )
    audit.record(
        session,
        "evidence.attach",
        subject["subject"],
        after={
            "kind": values["kind"],
            "evidence_id": evidence_id,
            "digest": values["digest"],
            "plugin": values["plugin"],
            "run_id": values["run_id"],
            **({"paired": subject["paired"]} if "paired" in subject else {}),
        },
    )


def attach_dataset_card(
    session: Session,
    audit: AuditWriter,
    *,
    version: Any,
    digest: str,
    card: tuple[Mapping[str, Any], Mapping[str, Any]],
    stage: str,
    run_id: str | None = None,
) -> Evidence:
    """The core's ``dataset_card`` evidence on a dataset version: ``card`` is its
    ``(metrics, details)``, measured on content of ``digest``."""
    metrics, details = card
    return attach_evidence(
        session,
        audit,
        asset_type="dataset",
        version=version,
        expected_digest=digest,
        kind="dataset_card",
        stage=stage,
        plugin="lmops-core",
        metrics=metrics,
        details=details,
        run_id=run_id,
    )


#: ``list_evidence(..., paired=ANY_PAIR)``: paired or not, every record of the version.
ANY_PAIR = -1


def list_evidence(
    session: Session,
    asset_type: str,
    version_id: int,
    kind: str | None = None,
    *,
    paired: int | None = ANY_PAIR,
) -> list[Evidence]:
    """The evidence of one version (of one ``kind`` when given), oldest first.

    ``paired``: every record (:data:`ANY_PAIR`, the default), only records measured with
    the model version of that id, or (``None``) only records not paired with any.
    Within a read snapshot (:meth:`Database.snapshot`) each such list is read once.
    """
    params: dict[str, Any] = {"subject_type": asset_type, "subject_id": version_id}
    q = _EVIDENCE_OF
    if kind:
        q = _EVIDENCE_OF_KIND
        params["kind"] = kind
    if paired is None:
        q = q.where(col(Evidence.paired_model_version_id).is_(None))
    elif paired != ANY_PAIR:
        q = q.where(col(Evidence.paired_model_version_id) == paired)
    memo: dict[Any, Any] | None = session.info.get(SNAPSHOT_MEMO)
    key = ("evidence", asset_type, version_id, kind, paired)
    if memo is not None and key in memo:
        return list(memo[key])
    rows = list(session.execute(q, params).scalars())
    if memo is not None:
        memo[key] = tuple(rows)
    return rows


# Built once: the evidence of a version is read on every evaluation, decision and page.
_EVIDENCE_OF = (
    select(Evidence)
    .where(
        col(Evidence.subject_type) == bindparam("subject_type"),
        col(Evidence.subject_id) == bindparam("subject_id"),
    )
    .order_by(col(Evidence.id))
)
_EVIDENCE_OF_KIND = _EVIDENCE_OF.where(col(Evidence.kind) == bindparam("kind"))
