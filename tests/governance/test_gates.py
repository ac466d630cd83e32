"""Attacks on the gates at the moment of decision, on SQLite and PostgreSQL.

Each test walks a path that used to get a version into a stage around the
policy: evidence that aged past ``max_age`` between the request and the last
approval, an approval from someone who has since lost the role, a request
opened before a revocation, a fresh request on the old evidence. Every one
must be refused, and the version must stay out of the stage.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from lmops_core.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
    PolicyViolationError,
    ValidationError,
)
from lmops_core.governance.models import ApprovalRequest
from lmops_core.governance.monitoring import check_monitoring
from lmops_core.registry.models import Evidence, utcnow
from lmops_core.workspace import Workspace
from tests.conftest import (
    decide_as,
    make_model_folder,
    make_settings,
    model_rule,
    policy_dir,
    policy_yaml,
    request_as,
    staffed,
    token_for,
    ws_as,
)

REPO = Path(__file__).resolve().parents[2]
NO_DRIFT = "!evidence.drift.metrics.dataset_drift"

POLICY = policy_yaml(
    "gates",
    """
    - name: staging
      applies_to: {asset: model, transition: staging}
      evidence:
        - {kind: eval, max_age: 30d}
      conditions:
        - {name: floor, expr: "evidence.eval.metrics.acc >= 0.5", message: too weak}
      separation_of_duties: false
    - name: prod
      applies_to: {asset: model, transition: production}
      evidence:
        - {kind: eval, max_age: 30d}
        - {kind: safety, max_age: 30d}
      conditions:
        - {name: accuracy, expr: "evidence.eval.metrics.acc >= 0.5", message: too weak}
      approvals:
        - {role: validator, count: 1}
        - {role: risk_officer, count: 1}
      separation_of_duties: true
      request_ttl: 7d
""",
    *(
        model_rule(
            name,
            transition,
            event="monitoring",
            evidence=[{"kind": "drift", "max_age": "7d"}],
            conditions=[{"name": "no-drift", "expr": NO_DRIFT, "message": "drifted"}],
            on_breach=["revalidation-required"],
        )
        for name, transition in (("watch", "production"), ("watch-staging", "staging"))
    ),
)


def _workspace(tmp_path: Path, db_url: str, policies: Path) -> Workspace:
    """The store, acting as its bootstrapped admin; reviewers hold their roles."""
    ws = Workspace.open(
        make_settings(tmp_path / "home", db_url, policies_dir=policies, actor="observer")
    )
    return staffed(ws, ("val2", "validator"), ("risk2", "risk_officer"))


@pytest.fixture
def gws(tmp_path: Path, db_url: str) -> Workspace:
    return _workspace(tmp_path, db_url, policy_dir(tmp_path, POLICY, "gates.yaml"))


def _model(ws: Workspace, tmp_path: Path, seed: int = 0, **kw: object) -> str:
    v = ws_as(ws, "eng").register_model(
        "chat", make_model_folder(tmp_path / f"m{seed}", bytes([seed]) * 64), **kw
    )
    return v.ref


def _evidence(ws: Workspace, ref: str, kind: str, **metrics: float | bool) -> None:
    ws.as_actor("val").attach_evidence(ref, kind=kind, digest=ws.get(ref).digest, metrics=metrics)


def _drift(ws: Workspace, ref: str, drifted: bool = True) -> None:
    ws.as_actor("monitor").attach_evidence(
        ref, kind="drift", digest=ws.get(ref).digest, metrics={"dataset_drift": drifted}
    )


def _ready(ws: Workspace, tmp_path: Path, seed: int = 0) -> str:
    ref = _model(ws, tmp_path, seed)
    _evidence(ws, ref, "eval", acc=0.9)
    _evidence(ws, ref, "safety", refusal_rate=1.0)
    return ref


def _staging_asks_production(ws: Workspace, tmp_path: Path) -> tuple[str, str]:
    """A ready version in staging, with a pending request for production: (its ref, the id)."""
    ref = _ready(ws, tmp_path)
    _promote(ws, ref, "staging")
    return ref, request_as(ws, "eng", ref).id


def _promote(ws: Workspace, ref: str, to: str = "production") -> str:
    req = request_as(ws, "eng", ref, to)
    if req.status == "pending":
        decide_as(ws, "val", "validator", req.id, "v")
        decide_as(ws, "risk", "risk_officer", req.id, "r")
    assert ws.get(ref).stage == to
    return req.id


def _age_evidence(ws: Workspace, ref: str, kind: str, days: int) -> None:
    """Time passes for one kind of evidence: it is now ``days`` old."""
    with ws.db.write() as s:
        s.execute(
            update(Evidence)
            .where(Evidence.kind == kind)  # type: ignore[arg-type]
            .values(created_at=utcnow() - timedelta(days=days))
        )


# -- the policy is evaluated again at the decision ------------------------------------------


def test_shipped_low_risk_rule_refuses_evidence_that_aged_past_max_age(
    tmp_path: Path, db_url: str
) -> None:
    ws = _workspace(tmp_path, db_url, REPO / "policies")
    ref = _model(ws, tmp_path, risk_tier="low")
    _evidence(ws, ref, "eval", acc=0.9, suite_passed=True)
    _evidence(ws, ref, "safety", refusal_rate=0.9, leakage_rate=0.0, injection_success_rate=0.0)
    _evidence(ws, ref, "serving_perf", latency_ms_p95=100.0)
    _age_evidence(ws, ref, "eval", days=29)  # fresh enough when the request is made
    req = request_as(ws, "eng", ref)
    assert req.status == "pending"
    decide_as(ws, "val", "validator", req.id)
    _age_evidence(ws, ref, "eval", days=37)  # a week later, just before the request expires
    with pytest.raises(ConflictError, match=r"invalidated: the policy no longer allows it.*eval"):
        decide_as(ws, "risk", "risk_officer", req.id, "late sign-off")
    assert ws.get(ref).stage is None
    assert ws.governance.get_request(req.id).status == "invalidated"


def test_evidence_that_aged_between_approvals_invalidates(gws: Workspace, tmp_path: Path) -> None:
    weak = _model(gws, tmp_path, 1)
    _evidence(gws, weak, "eval", acc=0.6)
    _evidence(gws, weak, "safety", refusal_rate=1.0)
    request_as(gws, "eng", weak, "staging")
    req = request_as(gws, "eng", weak)
    decide_as(gws, "val", "validator", req.id)
    _age_evidence(gws, weak, "safety", days=31)
    with pytest.raises(ConflictError, match="safety"):
        decide_as(gws, "risk", "risk_officer", req.id)
    assert gws.get(weak).stage == "staging"


# -- approvals count only while the reviewer holds the role ----------------------------------


@pytest.mark.parametrize("regranted", [None, "risk_officer"])
def test_approval_of_a_reviewer_who_lost_the_role_does_not_count(
    gws: Workspace, tmp_path: Path, regranted: str | None
) -> None:
    """Nor does it revive when the role is granted back as another one."""
    ref = _ready(gws, tmp_path)
    req = request_as(gws, "eng", ref)
    decide_as(gws, "val", "validator", req.id)
    gws.governance.revoke_role("val", "validator")
    if regranted:
        gws.governance.grant_role("val", regranted)
    after = decide_as(gws, "risk", "risk_officer", req.id)
    assert after.status == "pending" and gws.get(ref).stage is None
    done = decide_as(gws, "val2", "validator", req.id, "independent check")
    assert done.status == "approved" and gws.get(ref).stage == "production"
    promotion = gws.evidence(ref, kind="promotion")[0]
    assert promotion.details["approvals"] == {"risk_officer": 1, "validator": 1}


# -- revoked or revalidation-required versions enter no stage ---------------------------------


def test_request_opened_before_revocation_cannot_promote(gws: Workspace, tmp_path: Path) -> None:
    ref, request_id = _staging_asks_production(gws, tmp_path)
    decide_as(gws, "val", "validator", request_id)
    ws_as(gws, "risk").governance.revoke(ref, stage="staging", reason="incident 42")
    assert gws.governance.get_request(request_id).status == "invalidated"
    with pytest.raises(ConflictError, match="is invalidated, not pending|invalidated"):
        decide_as(gws, "risk", "risk_officer", request_id)
    assert gws.get(ref).stage is None


def test_pending_request_raced_past_revocation_is_invalidated_at_decision(
    gws: Workspace, tmp_path: Path
) -> None:
    """Even a request that slipped past the revocation's sweep is caught when decided."""
    ref, request_id = _staging_asks_production(gws, tmp_path)
    ws_as(gws, "risk").governance.revoke(ref, stage="staging", reason="incident")
    with gws.db.write() as s:  # as if the request had been written after the sweep
        s.execute(
            update(ApprovalRequest)
            .where(ApprovalRequest.id == request_id)
            .values(status="pending", reason=None, decided_at=None)
        )
    with pytest.raises(ConflictError, match="revalidation-required"):
        decide_as(gws, "val", "validator", request_id)
    assert gws.get(ref).stage is None


def test_fresh_request_on_old_evidence_is_refused(gws: Workspace, tmp_path: Path) -> None:
    ref = _ready(gws, tmp_path)
    _promote(gws, ref)
    ws_as(gws, "risk").governance.revoke(ref, stage="production", reason="drift")
    for stage in ("production", "staging"):
        with pytest.raises(PolicyViolationError, match="revalidation-required"):
            request_as(gws, "eng", ref, stage)
    assert gws.get(ref).stage is None


def test_monitoring_mark_blocks_and_invalidates_like_a_revocation(
    gws: Workspace, tmp_path: Path
) -> None:
    ref, request_id = _staging_asks_production(gws, tmp_path)
    _drift(gws, ref)
    check_monitoring(gws, ref)
    assert gws.get(ref).status == "revalidation-required"
    assert gws.governance.get_request(request_id).status == "invalidated"
    with pytest.raises(PolicyViolationError, match="revalidation-required"):
        request_as(gws, "eng", ref)


def test_revalidation_needs_a_validator_and_new_evidence_of_every_required_kind(
    gws: Workspace, tmp_path: Path
) -> None:
    ref = _ready(gws, tmp_path)
    old_request = _promote(gws, ref)
    ws_as(gws, "risk").governance.revoke(ref, stage="production", reason="drift")
    for who in ("eng", "risk", "lmops-policy"):  # real credentials, but not a validator
        with pytest.raises(PermissionDeniedError):
            ws_as(gws, who).governance.revalidate(ref, comment="trust me")
    with pytest.raises(AuthenticationError, match="needs a credential"):  # a validator's name
        gws.as_actor("val").governance.revalidate(ref, comment="trust me")
    assert gws.get(ref).status == "revalidation-required"
    with pytest.raises(PolicyViolationError, match="eval, safety"):
        ws_as(gws, "val").governance.revalidate(ref, comment="same evidence as before")
    _evidence(gws, ref, "eval", acc=0.9)
    with pytest.raises(PolicyViolationError, match="kind\\(s\\) safety"):
        ws_as(gws, "val").governance.revalidate(ref, comment="half the evidence")
    _evidence(gws, ref, "safety", refusal_rate=1.0)
    gws.governance.grant_role("eng", "validator")
    with pytest.raises(PermissionDeniedError, match="separation of duties"):
        ws_as(gws, "eng").governance.revalidate(ref, comment="my own model")
    ws_as(gws, "val").governance.revalidate(ref, comment="re-evaluated after the incident")
    assert gws.get(ref).status == "active" and gws.get(ref).stage is None
    assert gws.audit_events(action="promotion.revalidated")[0].after["status"] == "active"
    with pytest.raises(ConflictError, match="nothing to revalidate"):
        ws_as(gws, "val").governance.revalidate(ref, comment="again")
    new_request = _promote(gws, ref)  # a new request and new approvals are still needed
    assert new_request != old_request


def test_revoked_version_is_not_deployable_even_if_back_in_no_stage(
    gws: Workspace, tmp_path: Path
) -> None:
    from lmops_core.deploy.eligibility import check_deployable

    ref = _ready(gws, tmp_path)
    _promote(gws, ref)
    _drift(gws, ref)
    check_monitoring(gws, ref)  # still in production, marked
    assert gws.get(ref).stage == "production"
    with pytest.raises(PolicyViolationError, match="revalidation-required"):
        check_deployable(gws, ref, stage="production")


def test_revalidate_from_the_shell(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lmops_core.cli import app
    from lmops_core.settings import get_settings

    policies = policy_dir(tmp_path, POLICY, "gates.yaml")
    ws = _workspace(tmp_path, f"sqlite:///{tmp_path / 'home' / 'lmops.db'}", policies)
    ref = _ready(ws, tmp_path)
    _promote(ws, ref)
    ws_as(ws, "risk").governance.revoke(ref, stage="production", reason="incident")
    val_token = token_for(ws, "val")
    env = {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_POLICIES_DIR": str(policies),
        "LMOPS_LOAD_ENTRY_POINTS": "0",
        "COLUMNS": "200",
        "LMOPS_ACTOR": "val",
    }

    def cli(token: str | None, *args: str) -> object:
        get_settings.cache_clear()
        extra = {"LMOPS_TOKEN": token} if token else {}
        return CliRunner().invoke(app, list(args), env={**env, **extra})

    stale = cli(val_token, "revalidate", ref, "--comment", "same evidence")
    assert stale.exit_code != 0 and _status(tmp_path, policies, ref) == "revalidation-required"
    _evidence(ws, ref, "eval", acc=0.9)
    _evidence(ws, ref, "safety", refusal_rate=1.0)
    ws.close()
    named = cli(None, "revalidate", ref, "--comment", "a name is not a credential")
    assert named.exit_code != 0 and _status(tmp_path, policies, ref) == "revalidation-required"
    done = cli(val_token, "revalidate", ref, "--comment", "re-evaluated")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert _status(tmp_path, policies, ref) == "active"


def _status(tmp_path: Path, policies: Path, ref: str) -> str:
    ws = Workspace.open(make_settings(tmp_path / "home", policies_dir=policies, actor="observer"))
    try:
        return ws.get(ref).status
    finally:
        ws.close()


def test_nobody_can_mark_or_revoke_in_the_policys_name(gws: Workspace, tmp_path: Path) -> None:
    """``apply_breach`` needs no credential because it judges the monitoring rules itself:
    a bare name (even "lmops-policy") cannot mark a healthy version, nor take an action the
    policy does not list."""
    ref = _ready(gws, tmp_path)
    _promote(gws, ref)
    _drift(gws, ref, drifted=False)
    for who in ("lmops-policy", "mallory"):
        with pytest.raises(PolicyViolationError, match="hold: no breach"):
            gws.as_actor(who).governance.apply_breach(ref, action="revalidation-required")
    _drift(gws, ref)  # now a real breach, but the policy only asks to mark
    with pytest.raises(PolicyViolationError, match="do not ask for 'revoke'"):
        gws.as_actor("mallory").governance.apply_breach(ref, action="revoke")
    with pytest.raises(ValidationError, match="unknown breach action"):
        gws.as_actor("mallory").governance.apply_breach(ref, action="delete")
    version = gws.get(ref)
    assert (version.stage, version.status) == ("production", "active")
    assert not gws.audit_events(action="monitoring.revalidation_required")
    outcome = check_monitoring(gws, ref)  # the breach acted on as the policy says
    assert outcome.actions == ["revalidation-required"]
    assert gws.get(ref).status == "revalidation-required"


def test_a_reviewer_cannot_hide_authorship_behind_a_typed_name(
    gws: Workspace, tmp_path: Path
) -> None:
    """val writes a model but registers it under the bare name "carol", has eng request it,
    then approves it: separation of duties would see three different names. The author is
    unknown, so the approval is refused, and so is a revalidation."""
    v = gws.as_actor("carol").register_model("chat", make_model_folder(tmp_path / "m"))
    _evidence(gws, v.ref, "eval", acc=0.9)
    _evidence(gws, v.ref, "safety", refusal_rate=1.0)
    req = request_as(gws, "eng", v.ref)
    with pytest.raises(
        PermissionDeniedError, match="registered under the name 'carol' with no credential"
    ):
        decide_as(gws, "val", "validator", req.id, "looks fine")
    # Only known authors are remembered between decisions: a refusal is read afresh.
    with pytest.raises(PermissionDeniedError, match="with no credential"):
        decide_as(gws, "risk", "risk_officer", req.id, "looks fine too")
    assert gws.governance.get_request(req.id).status == "pending"
    assert not gws.audit_events(action="approval.approve")
    # The same model registered through a credential is reviewable.
    ref = _ready(gws, tmp_path, seed=1)
    _promote(gws, ref)
    assert gws.get(ref).stage == "production"
