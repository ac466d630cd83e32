"""The retraining loop: a breach runs the policy's pipeline and ends in a pending request.

One store (module scope) with a model in production, the policy's retraining pipeline
(PII redaction with Presidio, the data's approval gate, training from the last approved
base, evaluation of the candidate and of production, a promotion request), and the real
guard rails; the trainer and evaluator are a tiny test plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from lmops_core.errors import ConflictError
from lmops_core.governance import retraining
from lmops_core.governance.monitoring import MonitoringOutcome, check_monitoring
from lmops_core.pipelines.retrain import RetrainingOutcome, resume_waiting, retrain_for
from lmops_core.registry.models import utcnow
from lmops_core.reports import render_report
from lmops_core.workspace import Workspace
from tests.conftest import (
    VALIDATOR,
    drift_watch_rule,
    make_settings,
    model_rule,
    policy_yaml,
    write_jsonl,
    ws_as,
)
from tests.pipelines.conftest import in_production, retrain_policies
from tests.pipelines.retrain_plugin import FAIL_MARK

PLUGIN = Path(__file__).with_name("retrain_plugin.py")
EMAIL = "sam.lee.retrain@example.com"
POLICY = policy_yaml(
    "retrain-test",
    """
    - name: data
      applies_to: {asset: dataset, transition: approved-for-training}
      evidence: [{kind: pii}]
      conditions:
        - {name: no-pii, expr: "evidence.pii.metrics.findings_after == 0.0", message: pii left}
      approvals: [{role: data_steward, count: 1}]
    """,
    model_rule("prod", "production", evidence=[{"kind": "eval"}], approvals=[VALIDATOR]),
    drift_watch_rule(
        [
            "revalidation-required",
            {
                "retrain": {
                    "pipeline": "pipelines/retrain.yaml",
                    "cooldown": "1h",
                    "budget": {"count": 2, "per": "1d"},
                }
            },
        ]
    ),
)
PIPELINE = """\
apiVersion: lmops/v1
kind: Pipeline
name: retrain
steps:
  - id: redacted
    run: {stage: data_preparation, operation: pii-redact,
          inputs: {dataset: "${retrain.window}"}, params: {ner_model: null}}
  - id: data-request
    promote: {ref: "${redacted.dataset}", to: approved-for-training, expect: pending}
  - id: data-approved
    await_approval: {request: "${data-request}"}
  - id: trained
    run: {stage: training, operation: retrain-test-train,
          inputs: {base: "${retrain.base}", dataset: "${redacted.dataset}"}}
  - id: eval-candidate
    run: {stage: evaluation, operation: retrain-test-eval, inputs: {model: "${trained.model}"},
          params: {acc: 0.8}}
  - id: eval-production
    run: {stage: evaluation, operation: retrain-test-eval,
          inputs: {model: "${retrain.production}"}, params: {acc: 0.6}}
  - id: request
    promote: {ref: "${trained.model}", to: production, expect: pending}
"""


@dataclass
class Store:
    """The store, the watcher (a submitter with a token) and the people who decide."""

    ws: Workspace
    watcher: Workspace
    steward: Workspace
    validator: Workspace
    tmp: Path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    tmp = tmp_path_factory.mktemp("retrain")
    policies = retrain_policies(tmp, POLICY, "retrain-test.yaml", PIPELINE)
    settings = make_settings(
        tmp / "home", policies_dir=policies, plugins=["lmops_presidio.plugin", str(PLUGIN)]
    )
    ws = Workspace.open(settings, actor="watcher")
    yield Store(
        ws=ws,
        watcher=ws_as(ws, "watcher", "submitter"),
        steward=ws_as(ws, "steward", "data_steward"),
        validator=ws_as(ws, "val", "validator"),
        tmp=tmp,
    )
    ws.close()


def _in_production(store: Store, name: str) -> str:
    return in_production(store.ws, store.watcher, store.validator, name, store.tmp / name)


def _breach(store: Store, ref: str, *, poison: bool = False) -> MonitoringOutcome:
    """A window of traffic (carrying an e-mail address) drifted: the monitor says so."""
    rows = [{"prompt": f"Write to {EMAIL} about fees", "response": "Done."}]
    rows += [{"prompt": f"fees question {i}", "response": "Fees are listed."} for i in range(4)]
    if poison:
        rows.append({"prompt": f"{FAIL_MARK} now", "response": "x"})
    name = ref.split(":")[1].split("@")[0]
    window = store.watcher.register_dataset(
        f"{name}-inference-log",
        write_jsonl(store.tmp / f"{name}-window.jsonl", rows),
        shape="instruction",
    )
    monitor = store.ws.as_actor("monitor")
    drifted = {"dataset_drift": True, "drifted_share": 0.5}
    digest = store.ws.get(ref).digest
    monitor.attach_evidence(ref, kind="drift", digest=digest, stage="monitoring", metrics=drifted)
    return check_monitoring(monitor, ref, window=window.ref)


def _retrain(store: Store, outcome: MonitoringOutcome) -> RetrainingOutcome:
    done = retrain_for(store.watcher, outcome)
    assert done is not None
    return done


def _approve_data(store: Store, request_id: str) -> None:
    store.steward.governance.decide(
        request_id, approve=True, role="data_steward", comment="redacted window reviewed"
    )


def test_loop_ends_in_a_pending_request_and_one_retraining_at_a_time(store: Store) -> None:
    ref = _in_production(store, "chat")
    first = _breach(store, ref)
    assert first.breached and first.training_request_id is not None
    waiting = _retrain(store, first)
    # The redacted window needs a data steward: the loop waits rather than approving.
    assert waiting.state == "waiting", waiting
    attempt = retraining.request_detail(store.ws, first.training_request_id).attempts[0]
    data_request = store.ws.governance.get_request(attempt.waiting_for or "")
    assert data_request.status == "pending" and data_request.target_stage == "approved-for-training"

    # A second breach during the retraining: the same request, and no second retraining.
    second = _breach(store, ref)
    assert second.training_request_id == first.training_request_id
    refused = _retrain(store, second)
    assert refused.state == "refused" and "already in flight" in refused.message
    assert resume_waiting(store.watcher) == []  # nothing decided yet: it keeps waiting

    _approve_data(store, data_request.id)
    (done,) = resume_waiting(store.watcher)
    assert done.state == "succeeded", done
    candidate = store.ws.get(done.attempt.candidate if done.attempt else "")
    # Never a promotion: the candidate waits for people; production is unchanged.
    assert candidate.stage is None
    assert (
        store.ws.governance.get_request(
            done.attempt.promotion_request if done.attempt else ""
        ).status
        == "pending"
    )
    assert store.ws.get(ref).stage == "production"
    # Trained from the last approved base on the redacted window; no raw e-mail in it.
    parents = sorted((e.parent, e.relation) for e in store.ws.lineage(candidate.ref, depth=1))
    assert parents == [
        (data_request.ref, "derived_from"),
        (ref, "derived_from"),
        (ref, "retrained_after_drift"),
    ]
    redacted = store.ws.export(data_request.ref, store.tmp / "redacted")
    assert EMAIL not in "".join(p.read_text() for p in redacted.rglob("*") if p.is_file())
    # What the loop says about the candidate, in its evidence, tags and validation report.
    (evidence,) = store.ws.evidence(candidate.ref, kind="retraining")
    window = first.window
    assert evidence.metrics["window"] == window and evidence.metrics["after"] == ref
    assert (evidence.metrics["acc"], evidence.metrics["production_acc"]) == (0.8, 0.6)
    sentence = f"retrained on {utcnow().date().isoformat()} after drift on window {window}"
    assert candidate.tags["retrained"] == sentence
    assert sentence in render_report(store.ws, candidate.ref, to="production").markdown
    actions = [e.action for e in store.ws.audit_events(subject=ref, limit=500)]
    for step in ("training_request.open", "retraining.start", "retraining.waiting"):
        assert step in actions
    assert {"retraining.skipped", "retraining.resume", "retraining.succeeded"} <= set(actions)
    assert actions.count("retraining.step") == 7  # every step (the wait once decided), audited

    # The request awaits review; once people close it, a new breach is in the cool-down.
    assert _retrain(store, _breach(store, ref)).state == "refused"
    retraining.close_request(store.validator, first.training_request_id, comment="reviewed")
    with pytest.raises(ConflictError, match="closed, not open"):
        retraining.close_request(store.validator, first.training_request_id, comment="again")
    cooling = _retrain(store, _breach(store, ref))
    assert cooling.state == "refused" and "cooling down" in cooling.message


def test_budget_counts_retrainings_per_period(store: Store) -> None:
    ref = _in_production(store, "budgeted")
    outcome = _breach(store, ref)
    plan = outcome.evaluation.retrain
    assert plan is not None and outcome.training_request_id is not None
    policy = store.ws.as_actor("lmops-policy")
    now = utcnow()
    for hours in (0, 2):  # past the cool-down each time, within one day
        started = retraining.start_attempt(
            policy, outcome.training_request_id, plan=plan, now=now + timedelta(hours=hours)
        )
        assert not isinstance(started, retraining.StartRefused), started
        retraining.fail_attempt(policy, started.id, failure="stopped by test")
    over = retraining.start_attempt(
        policy, outcome.training_request_id, plan=plan, now=now + timedelta(hours=4)
    )
    assert isinstance(over, retraining.StartRefused) and "budget of 2" in over.reason


def test_failed_retraining_leaves_the_request_open_with_the_failure(store: Store) -> None:
    ref = _in_production(store, "fragile")
    outcome = _breach(store, ref, poison=True)
    assert _retrain(store, outcome).state == "waiting"
    request_id = outcome.training_request_id or ""
    _approve_data(
        store, retraining.request_detail(store.ws, request_id).attempts[0].waiting_for or ""
    )
    (failed,) = resume_waiting(store.watcher)
    assert failed.state == "failed" and "asked this trainer to fail" in failed.message
    detail = retraining.request_detail(store.ws, request_id)
    assert detail.status == "open"
    assert detail.attempts[-1].state == "failed"
    assert "asked this trainer to fail" in (detail.attempts[-1].failure or "")
    assert [v.version for v in store.ws.list_versions("model", "fragile")] == [1]
    assert "retraining.failed" in [e.action for e in store.ws.audit_events(subject=ref, limit=200)]
