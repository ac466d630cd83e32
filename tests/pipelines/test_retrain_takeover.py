"""A retraining whose process crashed is detected and taken over, not left holding its model.

A real process runs a retraining and is SIGKILLed while its trainer works; the attempt's
lease (host, pid, expiry renewed by a heartbeat) shows the process is gone, and the next
``resume`` takes the attempt over and carries it on from its recorded steps to a pending
promotion request, on SQLite and on PostgreSQL. Waits are on conditions (a file, a row), never
on a fixed time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from lmops_core.governance import retraining
from lmops_core.governance.monitoring import MonitoringOutcome, check_monitoring
from lmops_core.governance.retraining_lease import is_stale, stale_attempts, take_over
from lmops_core.pipelines.retrain import resume_waiting, retrain_for
from lmops_core.registry.models import utcnow
from lmops_core.workspace import Workspace
from tests.conftest import (
    VALIDATOR,
    drift_watch_rule,
    make_settings,
    model_rule,
    policy_yaml,
    token_for,
    write_jsonl,
    ws_as,
)
from tests.pipelines.conftest import in_production, retrain_policies

PLUGIN = Path(__file__).with_name("retrain_plugin.py")
ROOT = Path(__file__).parents[2]
LEASE_S = 9.0
POLICY = policy_yaml(
    "takeover-test",
    model_rule("prod", "production", evidence=[{"kind": "eval"}], approvals=[VALIDATOR]),
    drift_watch_rule([{"retrain": {"pipeline": "pipelines/retrain.yaml", "cooldown": "1h"}}]),
)
PIPELINE = """\
apiVersion: lmops/v1
kind: Pipeline
name: retrain-hold
steps:
  - id: eval-production
    run: {stage: evaluation, operation: retrain-test-eval,
          inputs: {model: "${retrain.production}"}, params: {acc: 0.6}}
  - id: trained
    run: {stage: training, operation: retrain-test-hold,
          inputs: {base: "${retrain.base}", dataset: "${retrain.window}"}, params: {hold: HOLD}}
  - id: eval-candidate
    run: {stage: evaluation, operation: retrain-test-eval, inputs: {model: "${trained.model}"},
          params: {acc: 0.8}}
  - id: request
    promote: {ref: "${trained.model}", to: production, expect: pending}
"""
#: The watcher's process: a breach, then the policy's retraining (which holds in training).
WATCHER = """\
import sys
from lmops_core.governance.monitoring import check_monitoring
from lmops_core.pipelines.retrain import retrain_for
from lmops_core.workspace import Workspace

ref, window = sys.argv[1:3]
with Workspace.open() as ws:
    retrain_for(ws, check_monitoring(ws.as_actor("monitor"), ref, window=window))
"""


@dataclass
class Store:
    """The store, the watcher (a submitter with a token), its environment, the hold folder."""

    ws: Workspace
    watcher: Workspace
    env: dict[str, str]
    hold: Path
    tmp: Path


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[Store]:
    hold = tmp_path / "hold"
    hold.mkdir()
    pipeline = PIPELINE.replace("HOLD", str(hold))
    policies = retrain_policies(tmp_path, POLICY, "takeover-test.yaml", pipeline)
    settings = make_settings(
        tmp_path / "home",
        db_url,
        policies_dir=policies,
        plugins=[str(PLUGIN)],
        retraining_lease_seconds=LEASE_S,
    )
    ws = Workspace.open(settings, actor="watcher")
    token = token_for(ws, "watcher", "submitter")
    env = {
        **os.environ,
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_DATABASE_URL": db_url,
        "LMOPS_POLICIES_DIR": str(policies),
        "LMOPS_PLUGINS": str(PLUGIN),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_RETRAINING_LEASE_SECONDS": str(LEASE_S),
        "LMOPS_TOKEN": token,
    }
    yield Store(ws=ws, watcher=ws.with_token(token), env=env, hold=hold, tmp=tmp_path)
    ws.close()


def _breached(store: Store) -> tuple[str, str]:
    """``model:chat@1`` in production, drift evidence on it, and a window: (ref, window)."""
    validator = ws_as(store.ws, "val", "validator")
    ref = in_production(store.ws, store.watcher, validator, "chat", store.tmp / "m")
    digest = store.ws.get(ref).digest
    rows = [{"prompt": f"fees question {i}", "response": "Fees are listed."} for i in range(4)]
    window = store.watcher.register_dataset(
        "chat-inference-log", write_jsonl(store.tmp / "w.jsonl", rows), shape="instruction"
    )
    store.ws.as_actor("monitor").attach_evidence(
        ref, kind="drift", digest=digest, stage="monitoring", metrics={"dataset_drift": True}
    )
    return ref, window.ref


def _until(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    """Wait until ``condition`` holds; fail (with the process's output) if it exits first."""
    deadline = time.monotonic() + 300  # a bound on a broken run, not a timing assertion
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the watcher exited ({proc.returncode}) before {what}: {proc.stdout}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def test_a_killed_retraining_is_taken_over_and_ends_in_a_pending_request(store: Store) -> None:
    ref, window = _breached(store)
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHER, ref, window],
        cwd=ROOT,
        env=store.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _until((store.hold / "started").exists, "the trainer started", proc)
        (request,) = retraining.list_requests(store.ws)
        running = request.latest_attempt
        assert running is not None and running.state == "running"
        assert running.owner_pid == proc.pid and running.lease_expires_at is not None

        def renewed() -> bool:
            now = retraining.attempt_detail(store.ws, running.id).lease_expires_at
            return now is not None and now > running.lease_expires_at

        _until(renewed, "the lease renewed", proc)
        # Alive: nobody takes it over, and a second breach starts no second retraining.
        assert resume_waiting(store.watcher) == []
        outcome = check_monitoring(store.ws.as_actor("monitor"), ref, window=window)
        refused = retrain_for(store.watcher, outcome)
        assert refused is not None and refused.state == "refused", refused
        assert "already in flight" in refused.message
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    # Killed: its pid is gone, so the attempt is stale at once (no need to wait out the lease).
    assert [a.id for a in stale_attempts(store.ws)] == [running.id]
    (done,) = resume_waiting(store.watcher)
    assert done.state == "succeeded", done.message
    assert done.attempt is not None and done.attempt.id == running.id
    assert done.attempt.owner_pid == os.getpid()
    promotion = store.ws.governance.get_request(done.attempt.promotion_request or "")
    assert promotion.status == "pending" and promotion.ref == done.attempt.candidate
    assert store.ws.get(ref).stage == "production"
    # The step finished before the crash was not run again: production was evaluated once.
    assert [e.metrics["acc"] for e in store.ws.evidence(ref, kind="eval")] == [0.7, 0.6]
    (takeover,) = store.ws.audit_events(subject=ref, action="retraining.takeover")
    assert takeover.after["previous_owner"].startswith(f"pid {proc.pid} on ")
    assert resume_waiting(store.watcher) == []


def test_a_lapsed_lease_is_stale_and_only_one_taker_wins(store: Store) -> None:
    ref, window = _breached(store)
    outcome: MonitoringOutcome = check_monitoring(store.ws.as_actor("monitor"), ref, window=window)
    assert outcome.evaluation.retrain is not None and outcome.training_request_id is not None
    policy = store.ws.as_actor("lmops-policy")
    started = retraining.start_attempt(
        policy, outcome.training_request_id, plan=outcome.evaluation.retrain
    )
    assert not isinstance(started, retraining.StartRefused), started
    # This process is alive: the attempt is stale only once its lease has lapsed.
    assert not is_stale(started) and stale_attempts(store.ws) == []
    later = utcnow() + timedelta(seconds=LEASE_S + 1)
    (stale,) = stale_attempts(store.ws, now=later)
    first, second = take_over(policy, stale, now=later), take_over(policy, stale, now=later)
    assert first is not None and first.lease_id != stale.lease_id and second is None
    assert not is_stale(first, now=later)
