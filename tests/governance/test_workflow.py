"""The promotion workflow through the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.errors import (
    ConflictError,
    PermissionDeniedError,
    PolicyError,
    PolicyViolationError,
    ValidationError,
)
from lmops_core.governance.identity import os_user
from lmops_core.governance.schemas import ApprovalRequestPublic
from lmops_core.workspace import Workspace
from tests.conftest import decide_as, make_model_folder, make_settings, request_as, ws_as


def _model(ws: Workspace, tmp_path: Path, acc: float | None, seed: int = 0) -> str:
    eng = ws_as(ws, "eng")
    v = eng.register_model("chat", make_model_folder(tmp_path / f"m{seed}", bytes([seed]) * 64))
    if acc is not None:
        ws.as_actor("val").attach_evidence(
            v.ref, kind="eval", digest=v.digest, metrics={"acc": acc}
        )
    return v.ref


def test_full_workflow_promotes_atomically(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    assert req.status == "pending" and req.required_approvals == {"risk_officer": 1, "validator": 1}
    assert gov_ws.get(ref).stage is None
    after_one = decide_as(gov_ws, "val", "validator", req.id, "validated on holdout")
    assert after_one.status == "pending" and gov_ws.get(ref).stage is None
    done = decide_as(gov_ws, "risk", "risk_officer", req.id, "risk accepted")
    assert done.status == "approved"
    assert gov_ws.get(ref).stage == "production"
    assert [v.ref for v in gov_ws.search("model", stage="production")] == [ref]
    kinds = [e.kind for e in gov_ws.evidence(ref)]
    assert kinds.count("approval") == 2 and "promotion_request" in kinds and "promotion" in kinds
    actions = [e.action for e in gov_ws.audit_events(subject=ref, limit=500)]
    assert actions[-4:] == [
        "approval.approve",
        "evidence.attach",
        "promotion.complete",
        "evidence.attach",
    ]
    assert gov_ws.verify_audit().ok


def _as_read(ws: Workspace, request_id: str) -> dict[str, object]:
    detail = ws.governance.get_request(request_id)
    return detail.model_dump(include=set(ApprovalRequestPublic.model_fields))


def test_a_decision_answers_what_the_store_then_holds(gov_ws: Workspace, tmp_path: Path) -> None:
    """A decision is answered from what its transaction read and wrote, not read back:
    the answer equals a fresh read, decisions and approvals included (pending, approved,
    rejected)."""
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    first = decide_as(gov_ws, "val", "validator", req.id, "validated on holdout")
    assert first.approvals_so_far == {"validator": 1} and len(first.decisions) == 1
    assert first.model_dump() == _as_read(gov_ws, req.id)
    done = decide_as(gov_ws, "risk", "risk_officer", req.id, "risk accepted")
    assert done.status == "approved" and [d.actor for d in done.decisions] == ["val", "risk"]
    assert done.model_dump() == _as_read(gov_ws, req.id)
    other = request_as(gov_ws, "eng", _model(gov_ws, tmp_path, 0.8, seed=1))
    rejected = decide_as(gov_ws, "risk", "risk_officer", other.id, "not yet", approve=False)
    assert rejected.status == "rejected" and rejected.decisions[0].decision == "reject"
    assert rejected.model_dump() == _as_read(gov_ws, other.id)


def test_failing_gate_refuses_at_once_with_reasons(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.3)
    with pytest.raises(PolicyViolationError, match=r"prod/accuracy: fail: accuracy below 0.5"):
        request_as(gov_ws, "eng", ref)
    assert gov_ws.governance.list_requests().total == 0
    assert gov_ws.audit_events(action="promotion.refused")[0].subject == ref


def test_missing_metric_blocks(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, None)
    with pytest.raises(PolicyViolationError, match="missing"):
        request_as(gov_ws, "eng", ref)


def test_separation_of_duties(gov_ws: Workspace, tmp_path: Path) -> None:
    gov_ws.governance.grant_role("eng", "validator")
    gov_ws.governance.grant_role("val", "submitter")
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "val", ref)
    with pytest.raises(PermissionDeniedError, match="requested this promotion"):
        decide_as(gov_ws, "val", "validator", req.id, "lgtm")
    with pytest.raises(PermissionDeniedError, match="authored model:chat@1"):
        decide_as(gov_ws, "eng", "validator", req.id, "lgtm")
    with pytest.raises(PermissionDeniedError, match="needs one of the roles risk_officer"):
        decide_as(gov_ws, "val2", "risk_officer", req.id, "lgtm")
    with pytest.raises(ValidationError, match="needs a comment"):
        decide_as(gov_ws, "val2", "validator", req.id, " ")
    decide_as(gov_ws, "val2", "validator", req.id)
    with pytest.raises(ConflictError, match="already decided"):
        decide_as(gov_ws, "val2", "validator", req.id, "again")


def test_rejection_ends_the_request(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    rejected = decide_as(
        gov_ws, "risk", "risk_officer", req.id, "no fairness analysis", approve=False
    )
    assert rejected.status == "rejected" and rejected.reason == "no fairness analysis"
    with pytest.raises(ConflictError, match="is rejected, not pending"):
        decide_as(gov_ws, "val", "validator", req.id)
    assert gov_ws.get(ref).stage is None


def test_tampered_policy_file_invalidates_pending_request(
    gov_ws: Workspace, tmp_path: Path
) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    policy = tmp_path / "policies" / "test.yaml"
    policy.write_text(policy.read_text().replace("acc >= 0.5", "acc >= 0.4"))
    with pytest.raises(ConflictError, match=r"invalidated: policy file .*test.yaml changed"):
        decide_as(gov_ws, "val", "validator", req.id)
    assert gov_ws.governance.get_request(req.id).status == "invalidated"


def test_new_evidence_invalidates_pending_request(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    v = gov_ws.get(ref)
    ws_as(gov_ws, "val").attach_evidence(ref, kind="eval", digest=v.digest, metrics={"acc": 0.2})
    with pytest.raises(ConflictError, match="evidence changed after the request"):
        decide_as(gov_ws, "val", "validator", req.id)


def test_broken_policy_blocks(gov_ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "policies" / "broken.yaml").write_text(
        "apiVersion: lmops/v1\nkind: Policy\nname: x\nrules: [{name: r, bogus: 1}]\n"
    )
    ref = _model(gov_ws, tmp_path, 0.8)
    with pytest.raises(PolicyError, match="broken.yaml"):
        request_as(gov_ws, "eng", ref)


def test_no_policy_for_production_blocks(tmp_path: Path, sqlite_home: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    me = os_user()  # on the embedded store the OS user acts as itself without a token
    ws = Workspace.open(make_settings(sqlite_home, policies_dir=empty, actor=me))
    ws.governance.bootstrap_admin(me)
    ws.governance.grant_role(me, "submitter")
    v = ws.register_model("m", make_model_folder(tmp_path / "m"))
    with pytest.raises(PolicyViolationError, match="refused by policy"):
        ws.governance.request_promotion(v.ref, to="production")


def test_no_regression_against_production(gov_ws: Workspace, tmp_path: Path) -> None:
    first = _model(gov_ws, tmp_path, 0.8, seed=1)
    req = request_as(gov_ws, "eng", first)
    decide_as(gov_ws, "val", "validator", req.id, "a")
    decide_as(gov_ws, "risk", "risk_officer", req.id, "b")
    worse = _model(gov_ws, tmp_path, 0.75, seed=2)
    with pytest.raises(PolicyViolationError, match="no-regression: fail"):
        request_as(gov_ws, "eng", worse)
    better = _model(gov_ws, tmp_path, 0.85, seed=3)
    req = request_as(gov_ws, "eng", better)
    decide_as(gov_ws, "val", "validator", req.id, "a")
    decide_as(gov_ws, "risk", "risk_officer", req.id, "b")
    assert gov_ws.get(better).stage == "production" and gov_ws.get(first).stage is None
    detail = gov_ws.governance.get_request(req.id)
    assert detail.current_in_stage is None  # once promoted, it is itself in the stage


def test_revocation_is_audited(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    decide_as(gov_ws, "val", "validator", req.id, "a")
    decide_as(gov_ws, "risk", "risk_officer", req.id, "b")
    with pytest.raises(PermissionDeniedError):
        ws_as(gov_ws, "eng").governance.revoke(ref, stage="production", reason="drift")
    ws_as(gov_ws, "risk").governance.revoke(ref, stage="production", reason="drift breach")
    v = gov_ws.get(ref)
    assert v.stage is None and v.status == "revalidation-required"
    assert gov_ws.audit_events(action="promotion.revoked")[0].after["reason"] == "drift breach"


def test_no_side_door_into_a_stage(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    with pytest.raises(ValidationError, match="reserved"):
        gov_ws.set_alias(ref, "production")
    assert not hasattr(gov_ws, "set_stage")


def test_tokens_authenticate_and_revoke(gov_ws: Workspace) -> None:
    from lmops_core.errors import AuthenticationError

    token = gov_ws.governance.create_token("val", description="ci")
    principal = gov_ws.governance.authenticate(token)
    assert principal.user == "val" and principal.roles == {"validator"}
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(AuthenticationError):
        gov_ws.governance.authenticate(tampered)
    gov_ws.governance.revoke_token(principal.token_id or "")
    with pytest.raises(AuthenticationError, match="invalid or revoked"):
        gov_ws.governance.authenticate(token)
    with pytest.raises(PermissionDeniedError, match="is not an admin"):
        ws_as(gov_ws, "val").governance.create_token("val")


def test_one_pending_request_per_version_and_stage(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    with pytest.raises(
        ConflictError, match=f"already has a pending request to production: {req.id}"
    ):
        request_as(gov_ws, "eng", ref)
    with pytest.raises(ValidationError, match="without NUL bytes"):
        decide_as(gov_ws, "val", "validator", req.id, "ok\x00")


def _expire(ws: Workspace, request_id: str) -> None:
    """Time passes: the request's deadline was a second ago."""
    from datetime import timedelta

    from sqlalchemy import update

    from lmops_core.governance.models import ApprovalRequest
    from lmops_core.registry.models import utcnow

    with ws.db.write() as s:
        s.execute(
            update(ApprovalRequest)
            .where(ApprovalRequest.id == request_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def test_expired_requests_cannot_be_approved(gov_ws: Workspace, tmp_path: Path) -> None:
    ref = _model(gov_ws, tmp_path, 0.8)
    req = request_as(gov_ws, "eng", ref)
    _expire(gov_ws, req.id)
    with pytest.raises(ConflictError, match="is expired: it expired at"):
        decide_as(gov_ws, "val", "validator", req.id, "too late")
    other = _model(gov_ws, tmp_path, 0.8, seed=9)
    req2 = request_as(gov_ws, "eng", other)
    _expire(gov_ws, req2.id)
    assert gov_ws.governance.expire_due() == 1
    assert gov_ws.governance.get_request(req2.id).status == "expired"
    assert [e.subject for e in gov_ws.audit_events(action="promotion.expired")] == [ref, other]


def test_an_unknown_request_status_is_refused(gov_ws: Workspace) -> None:
    from lmops_core.governance.models import REQUEST_STATUSES

    with pytest.raises(
        ValidationError,
        match=r"unknown request status 'foo' \(expected one of "
        r"pending, approved, rejected, expired, "
        r"invalidated\)",
    ):
        gov_ws.governance.list_requests(status="foo")
    for status in REQUEST_STATUSES:
        assert gov_ws.governance.list_requests(status=status).total == 0
