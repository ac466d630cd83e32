"""Every "only one" rule holds when two people act at the same instant, on both backends.

Each race starts two threads, each with its own connection, behind a barrier; the
database (partial unique indexes, migration 0006) must leave exactly one row, and
the loser gets a ``ConflictError`` or, where acting twice means the same thing, the
winner's result. Nothing here waits for a time: threads are joined.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, update

from lmops_core.errors import ConflictError
from lmops_core.governance.models import (
    ApprovalRequest,
    RetrainingAttempt,
    TrainingRequest,
    UserRole,
)
from lmops_core.governance.monitoring import MonitoringOutcome, _open_training_request
from lmops_core.policy import PolicyEvaluation
from lmops_core.policy.evaluate import RetrainPlan
from lmops_core.registry import store
from lmops_core.registry.models import Alias, ModelVersion
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, ws_as

ROUNDS = 50


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same instant, one thread each; their results or exceptions."""
    gate = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int, fn: Callable[[], Any]) -> None:
        gate.wait()
        try:
            out[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - the caller inspects it
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _versions(
    ws: Workspace, tmp_path: Path, n: int, acc: Callable[[int], float], name: str = "race"
) -> list[Any]:
    eng, val = ws_as(ws, "eng"), ws.as_actor("val")
    out = []
    for i in range(n):
        v = eng.register_model(
            name, make_model_folder(tmp_path / f"{name}{i}", i.to_bytes(2, "big") * 32)
        )
        val.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": acc(i)})
        out.append(v)
    return out


def _id(ws: Workspace, ref: str) -> int:
    with ws.db.read() as s:
        return int(store.resolve(s, ref)[1].id)


def test_two_people_requesting_the_same_promotion_leave_one_pending(
    gov_ws: Workspace,
    tmp_path: Path,
) -> None:
    eng, eng2 = ws_as(gov_ws, "eng"), ws_as(gov_ws, "eng2", "submitter")
    versions = _versions(gov_ws, tmp_path, ROUNDS, lambda i: 0.8)
    duplicates = 0
    for v in versions:
        results = race(
            partial(eng.governance.request_promotion, v.ref, to="production"),
            partial(eng2.governance.request_promotion, v.ref, to="production"),
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], ConflictError), results
        assert "already has a pending request to production" in str(errors[0])
        with gov_ws.db.read() as s:
            pending = s.execute(
                select(func.count())
                .select_from(ApprovalRequest)
                .where(ApprovalRequest.ref == v.ref, ApprovalRequest.status == "pending")
            ).scalar_one()
        duplicates += pending - 1
    assert duplicates == 0
    assert len(gov_ws.audit_events(action="promotion.request", limit=1000)) == ROUNDS
    assert gov_ws.verify_audit().ok


def test_two_final_approvals_of_rival_versions_leave_one_in_production(
    gov_ws: Workspace,
    tmp_path: Path,
) -> None:
    eng, val = ws_as(gov_ws, "eng"), ws_as(gov_ws, "val")
    risk, risk2 = ws_as(gov_ws, "risk"), ws_as(gov_ws, "risk2", "risk_officer")
    rounds = ROUNDS // 2
    versions = _versions(gov_ws, tmp_path, 2 * rounds, lambda i: 0.6 + (i // 2) / 1000)
    for r in range(rounds):
        pair = versions[2 * r : 2 * r + 2]
        reqs = [eng.governance.request_promotion(v.ref, to="production") for v in pair]
        for req in reqs:
            val.governance.decide(req.id, approve=True, role="validator", comment="ok")
        results = race(
            partial(
                risk.governance.decide, reqs[0].id, approve=True, role="risk_officer", comment="ok"
            ),
            partial(
                risk2.governance.decide, reqs[1].id, approve=True, role="risk_officer", comment="ok"
            ),
        )
        assert not [x for x in results if isinstance(x, BaseException)], results
        assert {x.status for x in results} == {"approved"}
        holders = [v.ref for v in gov_ws.search("model", name="race", stage="production")]
        assert len(holders) == 1 and holders[0] in {v.ref for v in pair}
    assert gov_ws.verify_audit().ok


def test_two_admins_granting_the_same_role_store_it_once(gov_ws: Workspace) -> None:
    a, b = gov_ws, ws_as(gov_ws, "root2", "admin")  # two admins, each with a token
    for i in range(ROUNDS):
        user = f"new-{i}"
        results = race(
            partial(a.governance.grant_role, user, "validator"),
            partial(b.governance.grant_role, user, "validator"),
        )
        assert results == [None, None]
        with gov_ws.db.read() as s:
            rows = s.execute(
                select(func.count()).select_from(UserRole).where(UserRole.user == user)
            ).scalar_one()
        assert rows == 1
    grants = [
        e
        for e in gov_ws.audit_events(action="role.grant", limit=1000)
        if e.subject.startswith("user:new-")
    ]
    assert len(grants) == ROUNDS


def _breached(plan: RetrainPlan | None = None) -> PolicyEvaluation:
    """A monitoring verdict whose rule failed and says ``retrain`` (with ``plan``, if given)."""
    return PolicyEvaluation(
        subject="x",
        transition="production",
        evaluated_at=datetime.now(UTC),
        allowed=False,
        outcomes=[],
        required_approvals={},
        separation_of_duties=True,
        request_ttl=None,
        policy_digests={},
        breach_actions=["retrain"],
        retrain=plan,
    )


def test_two_breaches_at_once_open_one_retraining_request(gov_ws: Workspace) -> None:
    evaluation = _breached()
    monitor = gov_ws.as_actor("lmops-policy")
    for i in range(ROUNDS):
        outcome = MonitoringOutcome(
            ref=f"model:watched@{i + 1}", stage="production", breached=True, evaluation=evaluation
        )
        first, second = race(
            partial(_open_training_request, monitor, outcome.ref, outcome),
            partial(_open_training_request, monitor, outcome.ref, outcome),
        )
        assert isinstance(first, str) and first == second
        with gov_ws.db.read() as s:
            rows = s.execute(
                select(func.count())
                .select_from(TrainingRequest)
                .where(TrainingRequest.ref == outcome.ref)
            ).scalar_one()
        assert rows == 1
    assert len(gov_ws.audit_events(action="training_request.open", limit=1000)) == ROUNDS


def test_two_people_moving_one_alias_leave_one_alias_row(gov_ws: Workspace, tmp_path: Path) -> None:
    eng = gov_ws.as_actor("eng")
    versions = _versions(gov_ws, tmp_path, 2, lambda i: 0.8, name="aliased")
    for i in range(ROUNDS):
        alias = f"pick-{i}"
        results = race(
            partial(eng.set_alias, versions[0].ref, alias),
            partial(eng.set_alias, versions[1].ref, alias),
        )
        assert results == [None, None]
        with gov_ws.db.read() as s:
            rows = s.execute(select(Alias.version_id).where(Alias.alias == alias)).all()
        assert len(rows) == 1 and rows[0][0] in {_id(gov_ws, v.ref) for v in versions}


def test_the_database_itself_refuses_a_second_pending_request_or_stage_holder(
    gov_ws: Workspace,
    tmp_path: Path,
) -> None:
    v1, v2 = _versions(gov_ws, tmp_path, 2, lambda i: 0.8)
    req = ws_as(gov_ws, "eng").governance.request_promotion(v1.ref, to="production")
    columns = [c.name for c in ApprovalRequest.__table__.columns]  # type: ignore[attr-defined]
    with pytest.raises(sa_exc.IntegrityError), gov_ws.db.write() as s:
        row = s.get(ApprovalRequest, req.id)
        assert row is not None
        copy = {c: getattr(row, c) for c in columns} | {"id": "f" * 32}
        s.expunge(row)
        s.add(ApprovalRequest(**copy))
        s.flush()
    with pytest.raises(sa_exc.IntegrityError), gov_ws.db.write() as s:
        s.execute(
            update(ModelVersion)
            .where(
                ModelVersion.id.in_(  # type: ignore[union-attr]
                    [_id(gov_ws, v1.ref), _id(gov_ws, v2.ref)]
                )
            )  # type: ignore[attr-defined]
            .values(stage="production")
        )
    with gov_ws.db.read() as s:
        assert s.execute(select(func.count()).select_from(ApprovalRequest)).scalar_one() == 1
        assert (
            s.execute(
                select(func.count())
                .select_from(ModelVersion)
                .where(ModelVersion.stage.is_not(None))
            ).scalar_one()
            == 0
        )  # type: ignore[union-attr]


def test_two_breaches_of_one_model_at_once_start_one_retraining(gov_ws: Workspace) -> None:
    from lmops_core.governance.retraining import StartRefused, start_attempt
    from lmops_core.policy.model import RetrainSettings

    plan = RetrainPlan(
        policy_file="p.yaml",
        rule="watch",
        pipeline="retrain.yaml",
        # No cool-down, so only the in-flight rule can refuse the second racer (with one, a
        # racer whose reads straddle the first's commit on PostgreSQL is refused by the
        # cool-down instead: right too, but not the rule this test is about).
        settings=RetrainSettings(pipeline="retrain.yaml", cooldown=timedelta(0)),
    )
    evaluation = _breached(plan)
    policy = gov_ws.as_actor("lmops-policy")
    for i in range(ROUNDS // 5):
        # Two versions of one model breach at once: two requests, one retraining.
        requests = [
            _open_training_request(
                policy,
                ref,
                MonitoringOutcome(
                    ref=ref, stage="production", breached=True, evaluation=evaluation
                ),
            )
            for ref in (f"model:raced{i}@1", f"model:raced{i}@2")
        ]
        results = race(*(partial(start_attempt, policy, r, plan=plan) for r in requests))
        refused = [r for r in results if isinstance(r, StartRefused)]
        assert len(refused) == 1 and "already in flight" in refused[0].reason, results
        with gov_ws.db.read() as s:
            rows = s.execute(
                select(func.count())
                .select_from(RetrainingAttempt)
                .where(RetrainingAttempt.model == f"raced{i}")
            ).scalar_one()
        assert rows == 1
