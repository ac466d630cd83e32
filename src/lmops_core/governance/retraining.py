"""Retraining requests and their attempts: the guard rails of the retraining loop.

A monitoring breach whose rule says ``retrain`` opens a :class:`TrainingRequest`
(see :mod:`lmops_core.governance.monitoring`). When the rule names a pipeline, a
retraining *attempt* runs it (:mod:`lmops_core.pipelines.retrain`). This module
holds what the database decides about attempts, so that every front end (the
watcher, the CLI, the admin API) obeys the same rules:

* at most one attempt per model in flight (``running`` or ``waiting``): the partial
  unique index ``uq_retraining_in_flight`` refuses a second one, whichever process
  tries it;
* a cool-down after the last attempt of the model, and a budget of attempts per
  rolling period, both from the policy;
* a failed attempt leaves its request open with the failure recorded; only a person
  closes a request;
* every change is audited, with the request's monitored version as subject.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import case, func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from lmops_core.acting_store import ActingStore
from lmops_core.errors import ConflictError, NotFoundError, ValidationError
from lmops_core.governance.access import require_role
from lmops_core.governance.decisions import check_comment
from lmops_core.governance.models import RetrainingAttempt, TrainingRequest
from lmops_core.governance.monitoring import MonitoredStore
from lmops_core.governance.policy_facts import GOVERNANCE_KIND_STAGES, aware
from lmops_core.governance.retraining_lease import check_held, new_lease
from lmops_core.policy.evaluate import RetrainPlan
from lmops_core.registry import store
from lmops_core.registry.models import utcnow
from lmops_core.registry.names import parse_ref

#: Who may close a retraining request: the people who own or judge the model.
CLOSER_ROLES = frozenset({"submitter", "validator", "risk_officer", "admin"})
#: Attempt states that hold the model's one place in flight.
IN_FLIGHT = ("running", "waiting")
TRAINING_REQUEST_STATUSES = ("open", "closed", "superseded")


class RetrainingAttemptPublic(BaseModel):
    """One run of a retraining pipeline, as shown by the CLI and the admin API."""

    id: str
    request_id: str
    model: str
    state: str
    pipeline: str
    window: str | None
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    failure: str | None
    waiting_for: str | None
    results: dict[str, Any]
    candidate: str | None
    promotion_request: str | None
    #: The process running it (host, pid) and until when its lease holds, while it runs.
    owner_host: str | None = None
    owner_pid: int | None = None
    lease_expires_at: datetime | None = None


class TrainingRequestPublic(BaseModel):
    """A retraining request: the version, the breach evidence, the pipeline to run."""

    id: str
    ref: str
    model: str
    reason: str
    status: str
    created_by: str
    created_at: datetime
    evidence: dict[str, Any] | None
    pipeline: str | None
    closed_by: str | None
    closed_at: datetime | None
    close_comment: str | None
    latest_attempt: RetrainingAttemptPublic | None = None


class TrainingRequestDetail(TrainingRequestPublic):
    """A retraining request with every attempt, oldest first."""

    attempts: list[RetrainingAttemptPublic]


@dataclass(frozen=True)
class StartRefused:
    """Why no retraining attempt started (in flight, cooling down, over budget, done)."""

    reason: str


def model_of(ref: str) -> str:
    """The model name of a version reference (``model:chat@3`` -> ``chat``)."""
    return parse_ref(ref).name


def get_request(s: Session, request_id: str) -> TrainingRequest:
    """The retraining request ``request_id``, or ``NotFoundError``."""
    row = s.get(TrainingRequest, request_id)
    if row is None:
        raise NotFoundError(f"no retraining request {request_id!r}")
    return row


def start_attempt(
    ws: ActingStore, request_id: str, *, plan: RetrainPlan, now: datetime | None = None
) -> RetrainingAttempt | StartRefused:
    """Start a retraining attempt for an open request, if the guard rails allow it.

    The in-flight rule is the database's: the insert does nothing when another
    attempt of the same model is running or waiting. The cool-down and budget are
    read in the same transaction. A refusal is audited too (``retraining.skipped``).
    """
    now = now or utcnow()
    attempt_id = uuid.uuid4().hex
    with ws.db.write() as s:
        request = get_request(s, request_id)
        model = model_of(request.ref)
        refused = _refusal(s, request, model, plan, now)
        if refused is None:
            insert = postgresql.insert if ws.db.dialect == "postgresql" else sqlite.insert
            created = s.execute(
                insert(RetrainingAttempt)
                .values(
                    id=attempt_id,
                    request_id=request.id,
                    model=model,
                    state="running",
                    pipeline=plan.pipeline,
                    window=(request.evidence or {}).get("window"),
                    started_by=ws.actor,
                    started_at=now,
                    results={},
                    **new_lease(ws, now).columns(),
                )
                .on_conflict_do_nothing(
                    index_elements=["model"],
                    index_where=sql_text("state IN ('running', 'waiting')"),
                )
                .returning(col(RetrainingAttempt.id))
            ).scalar()
            if created is None:  # another process started one since the check above
                refused = _in_flight(model, None)
        if refused is not None:
            ws.audit_writer.record(
                s,
                "retraining.skipped",
                request.ref,
                after={"request_id": request.id, "reason": refused},
            )
            return StartRefused(refused)
        ws.audit_writer.record(
            s,
            "retraining.start",
            request.ref,
            after={
                "request_id": request.id,
                "attempt_id": attempt_id,
                "pipeline": plan.pipeline,
                "policy": f"{plan.policy_file}#{plan.rule}",
            },
        )
        attempt = s.get(RetrainingAttempt, attempt_id)
        assert attempt is not None
        s.expunge(attempt)
        return attempt


def _refusal(
    s: Session, request: TrainingRequest, model: str, plan: RetrainPlan, now: datetime
) -> str | None:
    if request.status != "open":
        return f"retraining request {request.id} is {request.status}"
    done = s.execute(
        select(col(RetrainingAttempt.promotion_request)).where(
            col(RetrainingAttempt.request_id) == request.id,
            col(RetrainingAttempt.state) == "succeeded",
        )
    ).scalar()
    if done is not None:
        return f"retraining request {request.id} already awaits review (promotion request {done})"
    attempts = select(RetrainingAttempt).where(col(RetrainingAttempt.model) == model)
    # One statement, so one snapshot: read apart, a racer could miss an attempt still in
    # flight and then see its start, and be told "cooling down" (even with no cool-down).
    flying, last = s.execute(
        select(
            func.max(case((col(RetrainingAttempt.state).in_(IN_FLIGHT), RetrainingAttempt.id))),
            func.max(RetrainingAttempt.started_at),
        ).where(col(RetrainingAttempt.model) == model)
    ).one()
    if flying is not None:
        return _in_flight(model, flying)
    cooldown: timedelta = plan.settings.cooldown
    if last is not None and aware(last) + cooldown > now:
        return (
            f"model {model!r} is cooling down until {(aware(last) + cooldown).isoformat()} "
            f"(cooldown {plan.settings.model_dump(mode='json')['cooldown']} after the last retraining)"
        )
    budget = plan.settings.budget
    used = s.execute(
        select(func.count()).select_from(
            attempts.where(col(RetrainingAttempt.started_at) > now - budget.per).subquery()
        )
    ).scalar_one()
    if used >= budget.count:
        per = budget.model_dump(mode="json")["per"]
        return f"model {model!r} used its budget of {budget.count} retraining(s) per {per}"
    return None


def _in_flight(model: str, attempt_id: str | None) -> str:
    which = f" (attempt {attempt_id})" if attempt_id else ""
    return f"a retraining of model {model!r} is already in flight{which}"


def _attempt(s: Session, attempt_id: str) -> RetrainingAttempt:
    row = s.get(RetrainingAttempt, attempt_id)
    if row is None:
        raise NotFoundError(f"no retraining attempt {attempt_id!r}")
    return row


def record_step(ws: ActingStore, attempt_id: str, step: str, result: dict[str, Any]) -> None:
    """Keep what a step produced (to resume after a wait) and audit it."""
    with ws.db.write() as s:
        attempt = _attempt(s, attempt_id)
        check_held(s, attempt)
        attempt.results = {**attempt.results, step: result}
        s.add(attempt)
        request = get_request(s, attempt.request_id)
        ws.audit_writer.record(
            s,
            "retraining.step",
            request.ref,
            after={"attempt_id": attempt_id, "step": step, "value": result.get("value")},
        )


def wait_attempt(ws: ActingStore, attempt_id: str, *, request_id: str) -> None:
    """The attempt waits for people to decide approval request ``request_id``; audited."""
    _end(ws, attempt_id, "waiting", {"waiting_for": request_id})


def fail_attempt(ws: ActingStore, attempt_id: str, *, failure: str) -> None:
    """The attempt failed; its request stays open, with the failure on the attempt."""
    _end(ws, attempt_id, "failed", {"failure": failure, "finished_at": utcnow()})


def succeed_attempt(ws: ActingStore, attempt_id: str, *, candidate: str, request_id: str) -> None:
    """The attempt made ``candidate`` and opened promotion request ``request_id`` for people."""
    changes = {"candidate": candidate, "promotion_request": request_id, "finished_at": utcnow()}
    _end(ws, attempt_id, "succeeded", changes)


def _end(ws: ActingStore, attempt_id: str, state: str, changes: dict[str, Any]) -> None:
    with ws.db.write() as s:
        attempt = _attempt(s, attempt_id)
        check_held(s, attempt)
        attempt.state = state
        attempt.failure = attempt.waiting_for = None
        for name, value in changes.items():
            setattr(attempt, name, value)
        s.add(attempt)
        request = get_request(s, attempt.request_id)
        shown = {k: v for k, v in changes.items() if k != "finished_at"}
        after = {"request_id": request.id, "attempt_id": attempt_id, **shown}
        ws.audit_writer.record(s, f"retraining.{state}", request.ref, after=after)


def record_retrained(
    ws: ActingStore,
    attempt_id: str,
    *,
    candidate: str,
    comparison: dict[str, Any],
) -> str:
    """Say on the candidate that it was retrained, when and after which breach.

    A ``retraining`` evidence record, a ``retrained`` tag (shown in the validation
    report) and a lineage edge ``retrained_after_drift`` to the monitored version.
    Returns the sentence written, e.g. ``retrained on 2026-12-01 after drift on window X``.
    """
    with ws.db.write() as s:
        attempt = _attempt(s, attempt_id)
        request = get_request(s, attempt.request_id)
        c_typ, _, c_version = _resolved(s, candidate)
        m_typ, _, monitored = _resolved(s, request.ref)
        window = attempt.window or "(window not recorded)"
        day = utcnow().date().isoformat()
        sentence = f"retrained on {day} after drift on window {window}"
        store.attach_evidence(
            s,
            ws.audit_writer,
            asset_type=c_typ,
            version=c_version,
            expected_digest=c_version.digest,
            kind="retraining",
            stage=GOVERNANCE_KIND_STAGES["retraining"],
            plugin="lmops-core",
            metrics={
                "retrained_on": day,
                "window": window,
                "after": request.ref,
                "request_id": request.id,
                **comparison,
            },
            details={"summary": sentence, "breach": request.evidence, "attempt_id": attempt_id},
        )
        store.set_tag(
            s, ws.audit_writer, asset_type=c_typ, version=c_version, key="retrained", value=sentence
        )
        store.add_lineage(
            s,
            ws.audit_writer,
            child_type=c_typ,
            child=c_version,
            parent_type=m_typ,
            parent=monitored,
            relation="retrained_after_drift",
        )
        return sentence


def _resolved(s: Session, ref: str) -> tuple[str, Any, Any]:
    parsed = parse_ref(ref)
    typ = parsed.asset_type or "model"
    asset, version = store.resolve(s, parsed, typ)
    return typ, asset, version


def resume_attempt(ws: ActingStore, attempt_id: str) -> RetrainingAttempt:
    """A waiting attempt runs again (the decision it waited for was made); audited."""
    with ws.db.write() as s:
        # Conditional, so that two watchers resuming the same attempt cannot both run it.
        changed = s.execute(
            update(RetrainingAttempt)
            .where(
                col(RetrainingAttempt.id) == attempt_id, col(RetrainingAttempt.state) == "waiting"
            )
            .values(state="running", **new_lease(ws).columns())
            .returning(col(RetrainingAttempt.id))
        ).scalar()
        if changed is None:
            raise ConflictError(f"retraining attempt {attempt_id} is not waiting")
        attempt = _attempt(s, attempt_id)
        request = get_request(s, attempt.request_id)
        ws.audit_writer.record(
            s,
            "retraining.resume",
            request.ref,
            after={"request_id": request.id, "attempt_id": attempt_id},
        )
        s.expunge(attempt)
        return attempt


def waiting_attempts(ws: ActingStore) -> list[RetrainingAttempt]:
    """Attempts waiting for a person's decision, oldest first."""
    with ws.db.read() as s:
        rows = list(
            s.execute(
                select(RetrainingAttempt)
                .where(col(RetrainingAttempt.state) == "waiting")
                .order_by(col(RetrainingAttempt.started_at))
            ).scalars()
        )
        for row in rows:
            s.expunge(row)
        return rows


def close_request(ws: MonitoredStore, request_id: str, *, comment: str) -> None:
    """A person closes an open request, saying why; an attempt in flight is abandoned.

    A decision: the actor needs a credential and one of :data:`CLOSER_ROLES`.
    """
    if not comment.strip():
        raise ValidationError("closing a retraining request needs a comment", field="comment")
    check_comment(comment, "comment")
    with ws.db.write() as s:
        actor = ws.governance.access.acting(s, f"close retraining request {request_id}").user
        require_role(s, actor, CLOSER_ROLES, f"close retraining request {request_id}")
        request = get_request(s, request_id)
        if request.status != "open":
            raise ConflictError(f"retraining request {request_id} is {request.status}, not open")
        request.status = "closed"
        request.closed_by = actor
        request.closed_at = utcnow()
        request.close_comment = comment
        s.add(request)
        s.execute(
            update(RetrainingAttempt)
            .where(
                col(RetrainingAttempt.request_id) == request_id,
                col(RetrainingAttempt.state).in_(IN_FLIGHT),
            )
            .values(state="abandoned", finished_at=utcnow())
        )
        ws.audit_writer.record(
            s,
            "training_request.close",
            request.ref,
            after={"request_id": request_id, "comment": comment},
        )


def list_requests(
    ws: ActingStore, *, status: str | None = "open", limit: int = 100
) -> list[TrainingRequestPublic]:
    """Retraining requests (``status`` None: all), newest first, each with its latest attempt."""
    if status is not None and status not in TRAINING_REQUEST_STATUSES:
        raise ValidationError(
            f"unknown status {status!r} (expected one of {', '.join(TRAINING_REQUEST_STATUSES)})",
            field="status",
        )
    with ws.db.read() as s:
        q = select(TrainingRequest).order_by(col(TrainingRequest.created_at).desc()).limit(limit)
        if status:
            q = q.where(col(TrainingRequest.status) == status)
        out = []
        for row in s.execute(q).scalars():
            attempts = _attempts_of(s, row.id)
            latest = attempts[-1] if attempts else None
            out.append(TrainingRequestPublic(**_fields(row), latest_attempt=latest))
        return out


def request_detail(ws: ActingStore, request_id: str) -> TrainingRequestDetail:
    """One request with every attempt, oldest first."""
    with ws.db.read() as s:
        row = get_request(s, request_id)
        attempts = _attempts_of(s, request_id)
        return TrainingRequestDetail(
            **_fields(row), latest_attempt=attempts[-1] if attempts else None, attempts=attempts
        )


def attempt_detail(ws: ActingStore, attempt_id: str) -> RetrainingAttemptPublic:
    """One attempt as recorded now."""
    with ws.db.read() as s:
        return RetrainingAttemptPublic(**_attempt(s, attempt_id).model_dump())


def _fields(row: TrainingRequest) -> dict[str, Any]:
    return {**row.model_dump(), "model": model_of(row.ref)}


def _attempts_of(s: Session, request_id: str) -> list[RetrainingAttemptPublic]:
    rows = s.execute(
        select(RetrainingAttempt)
        .where(col(RetrainingAttempt.request_id) == request_id)
        .order_by(col(RetrainingAttempt.started_at))
    ).scalars()
    return [RetrainingAttemptPublic(**r.model_dump()) for r in rows]


__all__ = [
    "attempt_detail",
    "CLOSER_ROLES",
    "IN_FLIGHT",
    "RetrainingAttemptPublic",
    "StartRefused",
    "TrainingRequestDetail",
    "TrainingRequestPublic",
    "close_request",
    "fail_attempt",
    "get_request",
    "list_requests",
    "model_of",
    "record_retrained",
    "record_step",
    "request_detail",
    "resume_attempt",
    "start_attempt",
    "succeed_attempt",
    "wait_attempt",
    "waiting_attempts",
]
