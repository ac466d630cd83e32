"""The request page's plain-SQL read says what the SDK's reads say, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.errors import NotFoundError
from lmops_core.governance.models import ApprovalRequest
from lmops_core.governance.request_page import read_request_page
from lmops_core.registry import store
from lmops_core.registry.models import LineageEdge
from lmops_core.workspace import Workspace
from tests.conftest import decide_as, make_model_folder, policy_yaml, request_as, ws_as


def _model(ws: Workspace, tmp_path: Path, acc: float, seed: int) -> str:
    v = ws_as(ws, "eng").register_model(
        "chat", make_model_folder(tmp_path / f"m{seed}", bytes([seed]) * 64)
    )
    ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": acc})
    return v.ref


def test_the_page_read_matches_the_sdk(gov_ws: Workspace, tmp_path: Path) -> None:
    first, better = _model(gov_ws, tmp_path, 0.8, seed=1), _model(gov_ws, tmp_path, 0.85, seed=2)
    promoted = request_as(gov_ws, "eng", first).id
    for user, role in (("val", "validator"), ("risk", "risk_officer")):
        decide_as(gov_ws, user, role, promoted)
    pending = request_as(gov_ws, "eng", better)
    decide_as(gov_ws, "val", "validator", pending.id, "validated on holdout")

    with gov_ws.db.snapshot() as s:
        page = read_request_page(s.connection(), pending.id, audit_limit=200)
    assert page.request == gov_ws.governance.get_request(pending.id)
    assert page.request.current_in_stage is not None
    assert page.request.current_in_stage["ref"] == first
    assert page.request.approvals_so_far == {"validator": 1}
    assert page.evidence == gov_ws.evidence(better)
    assert page.audit == gov_ws.audit_events(subject=better, request_id=pending.id, limit=200)
    assert [e.action for e in page.audit] == [
        "promotion.request",
        "approval.approve",
    ]
    version = gov_ws.get(better)
    assert (page.version.ref, page.version.name, page.version.version) == (
        better,
        "chat",
        version.version,
    )
    assert (page.version.digest, page.version.stage, page.version.status) == (
        version.digest,
        None,
        "active",
    )
    assert page.version.created_by == version.created_by == "eng"
    assert page.version.risk_tier == version.risk_tier  # type: ignore[attr-defined]
    assert not page.has_parents and not page.has_children
    with gov_ws.db.snapshot() as s:
        assert read_request_page(s.connection(), promoted, audit_limit=None).audit is None


def test_the_page_read_sees_lineage_and_the_audit_limit(gov_ws: Workspace, tmp_path: Path) -> None:
    parent = _model(gov_ws, tmp_path, 0.8, seed=1)
    child = _model(gov_ws, tmp_path, 0.9, seed=2)
    pending = request_as(gov_ws, "eng", child)
    with gov_ws.db.write() as s:
        _, p = store.resolve(s, parent)
        _, c = store.resolve(s, child)
        s.add(LineageEdge(child_type="model", child_id=c.id, parent_type="model", parent_id=p.id))
    with gov_ws.db.snapshot() as s:
        page = read_request_page(s.connection(), pending.id, audit_limit=0)
    assert page.has_parents and not page.has_children and page.audit == []
    # The version in production is the one judged: nothing is in production yet.
    assert page.request.current_in_stage is None


def test_the_audit_trail_is_read_under_the_versions_ref(gov_ws: Workspace, tmp_path: Path) -> None:
    """The trail is first asked for under the ref the request stores (sent with the
    version's read); should that ever differ from the version's ref, it is read again."""
    ref = _model(gov_ws, tmp_path, 0.8, seed=1)
    pending = request_as(gov_ws, "eng", ref)
    requests = ApprovalRequest.__table__  # type: ignore[attr-defined]
    with gov_ws.db.write() as s:
        s.execute(requests.update().where(requests.c.id == pending.id).values(ref="model:x@1"))
    with gov_ws.db.snapshot() as s:
        page = read_request_page(s.connection(), pending.id, audit_limit=200)
    assert page.version.ref == ref
    assert page.audit == gov_ws.audit_events(subject=ref, request_id=pending.id, limit=200)
    assert [e.action for e in page.audit] == ["promotion.request"]


def test_a_prompt_requests_page_read_matches_the_sdk(gov_ws: Workspace, tmp_path: Path) -> None:
    """Not a model: the version, evidence and trail are read in a batch of their own."""
    rule = (
        "- name: prompts\n  applies_to: {asset: prompt, transition: production}\n"
        "  approvals:\n    - {role: validator, count: 1}"
    )
    (gov_ws.settings.policies_dir / "prompts.yaml").write_text(policy_yaml("prompts", rule))
    first = ws_as(gov_ws, "eng").create_prompt("answer", "A: {question}")
    decide_as(gov_ws, "val", "validator", request_as(gov_ws, "eng", first.ref).id)
    second = ws_as(gov_ws, "eng").create_prompt("answer", "Answer: {question}")
    gov_ws.as_actor("val").attach_evidence(
        second.ref, kind="eval", digest=second.digest, metrics={"acc": 0.7}
    )
    pending = request_as(gov_ws, "eng", second.ref)
    with gov_ws.db.snapshot() as s:
        page = read_request_page(s.connection(), pending.id, audit_limit=200)
    assert page.request == gov_ws.governance.get_request(pending.id)
    assert page.request.current_in_stage is not None
    assert page.request.current_in_stage["ref"] == first.ref
    assert page.version.ref == second.ref and page.version.name == "answer"
    assert page.evidence == gov_ws.evidence(second.ref) and page.evidence
    assert page.audit == gov_ws.audit_events(subject=second.ref, request_id=pending.id, limit=200)
    assert [e.action for e in page.audit] == ["promotion.request"]


def test_an_unknown_request_is_not_found(gov_ws: Workspace) -> None:
    with gov_ws.db.snapshot() as s, pytest.raises(NotFoundError, match="'nope' does not exist"):
        read_request_page(s.connection(), "nope", audit_limit=None)
