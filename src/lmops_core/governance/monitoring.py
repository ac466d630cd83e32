"""Monitoring feeds back into governance: a breached monitoring rule acts, by policy.

After a monitor attaches evidence (e.g. ``drift``) to a version in a stage, the
monitoring rules of the policy (``applies_to.event: monitoring``) are evaluated
on it. If they fail, the actions the rules declare in ``on_breach`` are taken,
each audited: ``alert`` (an HMAC-signed webhook, if configured, and always a
line in ``LMOPS_HOME/alerts.jsonl``; the webhook never reaches a loopback,
link-local or private address unless settings allow it, see :mod:`lmops_core.outbound`), ``revalidation-required`` (the version's
status), ``revoke`` (it leaves the stage), ``retrain`` (a training request is
opened; nothing is ever deployed automatically).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from lmops_core.acting_store import ActingStore
from lmops_core.audit.chain import canonical_json
from lmops_core.errors import ConflictError, NotFoundError, UnsafeDestinationError
from lmops_core.governance.models import TrainingRequest
from lmops_core.governance.workflow import Governance
from lmops_core.outbound import DestinationPolicy, post_json
from lmops_core.policy import PolicyEvaluation
from lmops_core.registry import store
from lmops_core.registry.models import AuditEvent, Evidence, utcnow
from lmops_core.registry.names import parse_ref
from lmops_core.terms import GovernedStage

#: The actor recorded for actions a policy takes by itself.
POLICY_ACTOR = "lmops-policy"


class MonitoredStore(ActingStore, Protocol):
    """What a monitoring check uses of the store it acts on (a ``Workspace`` is one)."""

    @property
    def governance(self) -> Governance:
        """The governance service, acting as :attr:`actor`."""
        ...

    def as_actor(self, actor: str) -> MonitoredStore:
        """The same store, acting under the name ``actor`` (the policy's own actions)."""
        ...


@dataclass
class MonitoringOutcome:
    """What a monitoring check found and did."""

    ref: str
    stage: GovernedStage
    breached: bool
    evaluation: PolicyEvaluation
    actions: list[str] = field(default_factory=list)
    training_request_id: str | None = None
    #: The window of traffic the breach was found on (a dataset ref), when known.
    window: str | None = None

    @property
    def reasons(self) -> list[str]:
        return [
            f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
            for o in self.evaluation.blocking
        ]


def sign_payload(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` HMAC of a webhook body, for the ``X-Lmops-Signature`` header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_monitoring(
    ws: MonitoredStore, ref: str, *, window: str | None = None
) -> MonitoringOutcome:
    """Evaluate the monitoring rules for ``ref`` in its stage and act on a breach.

    ``window`` names the data the monitor just judged (recorded on a retraining request).
    """
    gov = ws.governance
    with ws.db.read() as s:
        parsed = parse_ref(ref)
        typ = parsed.asset_type or "model"
        asset, version = store.resolve(s, parsed, typ)
        canonical = store.version_ref(typ, asset.name, version.version)
        stage = version.stage
        if stage is None:
            raise ConflictError(f"{canonical} is in no stage: there is nothing to monitor")
        evaluation = gov.monitoring_verdict(s, typ, asset, version)
    outcome = MonitoringOutcome(
        ref=canonical,
        stage=stage,
        breached=not evaluation.allowed,
        evaluation=evaluation,
        window=window,
    )
    if not outcome.breached:
        with ws.db.write() as s:
            ws.audit_writer.record(s, "monitoring.ok", canonical, after={"stage": stage})
        return outcome
    policy_ws = ws.as_actor(POLICY_ACTOR)
    for action in evaluation.breach_actions:
        if action == "alert":
            _alert(policy_ws, outcome)
        elif action in ("revalidation-required", "revoke"):
            policy_ws.governance.apply_breach(canonical, action=action)
        elif action == "retrain":
            outcome.training_request_id = _open_training_request(policy_ws, canonical, outcome)
        outcome.actions.append(action)
    return outcome


def _alert(ws: MonitoredStore, outcome: MonitoringOutcome) -> None:
    payload = {
        "event": "monitoring.breach",
        "ref": outcome.ref,
        "stage": outcome.stage,
        "reasons": outcome.reasons,
        "actions": outcome.evaluation.breach_actions,
        "ts": datetime.now(UTC).isoformat(),
    }
    body = canonical_json(payload).encode()
    delivered: str = "not configured"
    url, secret = ws.settings.alert_webhook_url, ws.settings.alert_webhook_secret
    if url:
        if not secret:
            delivered = "refused: LMOPS_ALERT_WEBHOOK_SECRET is not set (alerts are signed)"
        else:
            delivered = _deliver(ws, url, secret, body)
    log = ws.settings.home / "alerts.jsonl"
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({**payload, "webhook": delivered}) + "\n")
    with ws.db.write() as s:
        ws.audit_writer.record(
            s,
            "monitoring.alert",
            outcome.ref,
            after={"reasons": outcome.reasons, "webhook": delivered},
        )


def _deliver(ws: MonitoredStore, url: str, secret: str, body: bytes) -> str:
    """POST the alert through the outbound guard; what happened, as one line."""
    try:
        policy = DestinationPolicy.from_strings(
            allow_private=ws.settings.alert_webhook_allow_private,
            allow_networks=ws.settings.alert_webhook_allow_networks,
        )
        status = post_json(
            url,
            body,
            policy=policy,
            headers={
                "Content-Type": "application/json",
                "X-Lmops-Signature": sign_payload(secret, body),
            },
        )
    except UnsafeDestinationError as exc:
        return f"refused: {exc}"
    except OSError as exc:
        return f"failed: {exc}"
    if 300 <= status < 400:
        return f"HTTP {status}: a redirect, not followed"
    return f"HTTP {status}"


def _open_training_request(ws: MonitoredStore, ref: str, outcome: MonitoringOutcome) -> str:
    """Open a retraining request for ``ref``, or return the one already open for it.

    ``INSERT ... ON CONFLICT DO NOTHING`` on the partial unique index
    ``uq_training_request_open``: two breaches handled at once open one request.
    The request names the breach evidence, the window and the policy's pipeline.
    """
    request_id = uuid.uuid4().hex
    plan = outcome.evaluation.retrain
    with ws.db.write() as s:
        evidence = _breach_evidence(s, ref, outcome)
        insert = postgresql.insert if ws.db.dialect == "postgresql" else sqlite.insert
        created = s.execute(
            insert(TrainingRequest)
            .values(
                id=request_id,
                ref=ref,
                reason="; ".join(outcome.reasons),
                status="open",
                created_by=ws.actor,
                created_at=utcnow(),
                evidence=evidence,
                pipeline=plan.pipeline if plan is not None else None,
            )
            .on_conflict_do_nothing(index_elements=["ref"], index_where=sql_text("status = 'open'"))
            .returning(col(TrainingRequest.id))
        ).scalar()
        if created is None:
            return str(
                s.execute(
                    select(col(TrainingRequest.id)).where(
                        col(TrainingRequest.ref) == ref, col(TrainingRequest.status) == "open"
                    )
                ).scalar_one()
            )
        ws.audit_writer.record(
            s,
            "training_request.open",
            ref,
            after={
                "request_id": request_id,
                "reasons": outcome.reasons,
                "window": outcome.window,
                "pipeline": plan.pipeline if plan is not None else None,
            },
        )
    return request_id


def _breach_evidence(s: Session, ref: str, outcome: MonitoringOutcome) -> dict[str, Any]:
    """What a retraining request cites: the window, the newest monitoring evidence, the reasons."""
    parsed = parse_ref(ref)
    typ = parsed.asset_type or "model"
    try:
        _, version = store.resolve(s, parsed, typ)
    except NotFoundError:
        # A request may name a version this store does not hold (opened by another tool):
        # it then cites no evidence, and says so.
        return {"window": outcome.window, "evidence": None, "reasons": outcome.reasons}
    newest = s.execute(
        select(Evidence)
        .where(
            col(Evidence.subject_type) == typ,
            col(Evidence.subject_id) == version.id,
            col(Evidence.stage) == "monitoring",
            col(Evidence.kind) != "revocation",
        )
        .order_by(col(Evidence.created_at).desc(), col(Evidence.id).desc())
        .limit(1)
    ).scalar()
    cited = None
    if newest is not None:
        cited = {
            "kind": newest.kind,
            "digest": newest.digest,
            "run_id": newest.run_id,
            "metrics": newest.metrics,
        }
    return {"window": outcome.window, "evidence": cited, "reasons": outcome.reasons}


def training_requests(ws: MonitoredStore, *, status: str | None = "open") -> list[dict[str, Any]]:
    """Open (or all) training requests, newest first."""
    with ws.db.read() as s:
        q = select(TrainingRequest).order_by(col(TrainingRequest.created_at).desc())
        if status:
            q = q.where(col(TrainingRequest.status) == status)
        return [r.model_dump() for r in s.execute(q).scalars()]


def open_breaches(ws: ActingStore, refs: Sequence[str]) -> dict[str, list[str]]:
    """``{ref: reasons}`` of the versions whose latest monitoring check was a breach.

    A check is audited ``monitoring.ok`` when it passes and ``monitoring.alert``
    when a breached rule alerts, so the later of the two says whether an alert
    is still open; a version checked fine since is left out. (A breach that
    revokes or requires revalidation shows in the version's status instead.)
    """
    if not refs:
        return {}
    actions = ("monitoring.ok", "monitoring.alert")
    with ws.db.read() as s:
        latest = (
            select(func.max(AuditEvent.seq))
            .where(col(AuditEvent.subject).in_(list(refs)), col(AuditEvent.action).in_(actions))
            .group_by(col(AuditEvent.subject))
        )
        rows = s.execute(
            select(col(AuditEvent.subject), col(AuditEvent.action), col(AuditEvent.after)).where(
                col(AuditEvent.seq).in_(latest)
            )
        ).all()
    out: dict[str, list[str]] = {}
    for subject, action, after in rows:
        if action == "monitoring.alert":
            body = json.loads(after)
            reasons = body.get("reasons") if isinstance(body, dict) else None
            out[subject] = [str(r) for r in reasons] if isinstance(reasons, list) else []
    return out
