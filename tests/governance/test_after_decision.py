"""``lmops_after_decision``: one event per transition, with the true outcome, from one place.

Real plugins loaded from ``.py`` files through ``LMOPS_PLUGINS`` (settings
``plugins``): an observer that records, one that always raises, one that vetoes
models whose name starts with ``veto``. Every transition is driven through the
SDK on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from lmops_core.errors import ConflictError
from lmops_core.governance.models import ApprovalRequest
from lmops_core.registry.models import utcnow
from lmops_core.workspace import Workspace
from tests.conftest import admin_ws, make_model_folder, policy_ws, staging_prod_policy, ws_as

REPO = Path(__file__).resolve().parents[2]

POLICY = staging_prod_policy("events")

BROKEN = textwrap.dedent("""
    from lmops_core import hookimpl

    @hookimpl
    def lmops_after_decision(decision):
        raise RuntimeError("chat webhook down")
""")

OBSERVER = textwrap.dedent("""
    from lmops_core import hookimpl

    EVENTS = []

    @hookimpl
    def lmops_after_decision(decision):
        EVENTS.append(decision)
""")

VETO = textwrap.dedent("""
    from lmops_core import hookimpl

    @hookimpl
    def lmops_before_promotion(promotion):
        if "/veto" in promotion.ref or ":veto" in promotion.ref:
            return "the veto plugin says no"
        return None
""")


@pytest.fixture
def ews(tmp_path: Path, db_url: str) -> Workspace:
    files = []
    for name, body in (("broken_observer", BROKEN), ("observer", OBSERVER), ("vetoer", VETO)):
        (tmp_path / f"{name}.py").write_text(body)
        files.append(str(tmp_path / f"{name}.py"))
    ws = policy_ws(tmp_path, POLICY, db_url, file="events.yaml", actor="observer", plugins=files)
    admin = admin_ws(ws)
    for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer")):
        admin.governance.grant_role(user, role)
    return admin


def _events(ws: Workspace) -> list[Any]:
    events: list[Any] = ws.plugins.pm.get_plugin("observer").EVENTS
    return events


def _seen(ws: Workspace) -> list[tuple[str, str | None]]:
    """The (decision, status) pairs observed since the last call."""
    events = _events(ws)
    out = [(e.decision, e.status) for e in events]
    events.clear()
    return out


def _model(ws: Workspace, tmp_path: Path, name: str = "chat", seed: int = 0) -> str:
    v = ws_as(ws, "eng").register_model(
        name, make_model_folder(tmp_path / f"{name}{seed}", bytes([seed]) * 64)
    )
    ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 1})
    return v.ref


def _request(ws: Workspace, ref: str, to: str = "production") -> str:
    return ws_as(ws, "eng").governance.request_promotion(ref, to=to).id


def test_promotion_without_approvals(
    ews: Workspace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = _model(ews, tmp_path)
    with caplog.at_level(logging.ERROR, logger="lmops.governance"):
        _request(ews, ref, "staging")
    assert _seen(ews) == [("promoted", "approved")]
    assert ews.get(ref).stage == "staging"
    failed = [r for r in caplog.records if "broken_observer" in r.getMessage()]
    assert failed and "the decision stands" in failed[0].getMessage()
    assert failed[0].exc_info is not None and "chat webhook down" in str(failed[0].exc_info[1])


def test_approval_then_promotion(ews: Workspace, tmp_path: Path) -> None:
    req = _request(ews, _model(ews, tmp_path))
    ws_as(ews, "val").governance.decide(req, approve=True, role="validator", comment="a")
    assert _seen(ews) == [("approved", "pending")]
    ws_as(ews, "risk").governance.decide(req, approve=True, role="risk_officer", comment="b")
    assert _seen(ews) == [("approved", "pending"), ("promoted", "approved")]


def test_rejection(ews: Workspace, tmp_path: Path) -> None:
    req = _request(ews, _model(ews, tmp_path))
    ws_as(ews, "val").governance.decide(req, approve=False, role="validator", comment="no")
    assert _seen(ews) == [("rejected", "rejected")]


def test_plugin_veto_is_reported_as_a_veto_not_an_approval(ews: Workspace, tmp_path: Path) -> None:
    ref = _model(ews, tmp_path, "veto-me")
    req = _request(ews, ref)
    ws_as(ews, "val").governance.decide(req, approve=True, role="validator", comment="a")
    ws_as(ews, "risk").governance.decide(req, approve=True, role="risk_officer", comment="b")
    seen = _seen(ews)
    assert seen == [("approved", "pending"), ("approved", "pending"), ("vetoed", "rejected")]
    assert ews.get(ref).stage is None
    _request(ews, ref, "staging")  # no approvals needed: vetoed all the same
    assert _seen(ews) == [("vetoed", "rejected")]


def test_expiry_by_sweep_and_at_decision(ews: Workspace, tmp_path: Path) -> None:
    first = _request(ews, _model(ews, tmp_path, seed=1))
    second = _request(ews, _model(ews, tmp_path, seed=2))
    with ews.db.write() as s:
        s.execute(update(ApprovalRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(ConflictError, match="expired"):
        ws_as(ews, "val").governance.decide(first, approve=True, role="validator", comment="late")
    assert _seen(ews) == [("expired", "expired")]
    assert ews.governance.expire_due() == 1
    seen = _events(ews)
    assert [(e.decision, e.request_id) for e in seen] == [("expired", second)]


def test_invalidation(ews: Workspace, tmp_path: Path) -> None:
    ref = _model(ews, tmp_path)
    req = _request(ews, ref)
    ews.as_actor("val").attach_evidence(
        ref, kind="eval", digest=ews.get(ref).digest, metrics={"acc": 0.1}
    )
    with pytest.raises(ConflictError, match="invalidated"):
        ws_as(ews, "val").governance.decide(req, approve=True, role="validator", comment="a")
    assert _seen(ews) == [("invalidated", "invalidated")]


def test_revocation_and_revalidation(ews: Workspace, tmp_path: Path) -> None:
    ref = _model(ews, tmp_path)
    _request(ews, ref, "staging")
    pending = _request(ews, ref)
    _seen(ews)
    ws_as(ews, "risk").governance.revoke(ref, stage="staging", reason="incident")
    seen = _events(ews)
    assert [(e.decision, e.status, e.request_id) for e in seen] == [
        ("revoked", "revalidation-required", None),
        ("invalidated", "invalidated", pending),
    ]
    seen.clear()
    ews.as_actor("val").attach_evidence(
        ref, kind="eval", digest=ews.get(ref).digest, metrics={"acc": 1}
    )
    ws_as(ews, "val").governance.revalidate(ref, comment="re-run after the incident")
    assert _seen(ews) == [("revalidated", "active")]


def test_after_decision_is_fired_from_one_place() -> None:
    callers = [
        p.relative_to(REPO).as_posix()
        for p in (REPO / "src").rglob("*.py")
        if "lmops_after_decision" in p.read_text(encoding="utf-8")
    ]
    assert sorted(callers) == [
        "src/lmops_core/governance/decisions.py",
        "src/lmops_core/hookspecs.py",
    ]
    text = (REPO / "src/lmops_core/governance/decisions.py").read_text(encoding="utf-8")
    assert text.count(".lmops_after_decision") == 1  # the one call, in decisions.announce
