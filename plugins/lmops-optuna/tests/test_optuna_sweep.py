"""The sweep through the runner: trials are recorded runs, hopeless ones are pruned, the best
by the objective is the candidate, and a killed sweep resumes without repeating a trial."""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from lmops_optuna.study import study_storage

from lmops_core.reports import render_report
from lmops_core.testing import listed_plugins
from lmops_core.workspace import Workspace

# The sweep's setup is a script too (the crash test runs it); loaded by path (importlib mode).
SETUP = Path(__file__).with_name("sweep_setup.py")
_spec = importlib.util.spec_from_file_location("lmops_optuna_sweep_setup", SETUP)
assert _spec is not None and _spec.loader is not None
setup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(setup)
PLUGIN, prepare, settings, sweep_params = (
    setup.PLUGIN,
    setup.prepare,
    setup.settings,
    setup.sweep_params,
)
GOOD, HOPELESS = 2e-2, 1e-7


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    # Found through its installed entry point, as a third party's plugin would be.
    listed = listed_plugins(tmp_path / "home")["lmops-optuna"]
    assert sorted(listed["operations"]) == ["evaluation:heldout-loss", "training:sweep"]


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> Iterator[tuple[Workspace, dict[str, str]]]:
    """A store with the tiny base (the session's) and the data, shared by the module's tests."""
    root = tmp_path_factory.mktemp("sweep")
    with Workspace.open(settings(root / "home")) as ws:
        yield ws, prepare(ws, root, tiny_model)


def finished(ws: Workspace, study: str) -> list[Any]:
    storage = study_storage(ws.settings.resolved_database_url)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    return [t for t in trials if t.state.is_finished()]


def test_sweep_prunes_and_marks_the_best_trial(store: tuple[Workspace, dict[str, str]]) -> None:
    ws, refs = store
    space = {
        "learning_rate": {"type": "float", "low": HOPELESS, "high": GOOD, "log": True},
        "lora_r": {"type": "categorical", "choices": [2, 4]},
    }
    # Two trials run to the end; the third, at a hopeless learning rate, is pruned.
    first = [
        {"learning_rate": GOOD, "lora_r": 4},
        {"learning_rate": 5e-3, "lora_r": 2},
        {"learning_rate": HOPELESS, "lora_r": 2},
    ]
    params = sweep_params(
        space=space,
        enqueue=first,
        n_trials=3,
        pruner_startup_trials=2,
        pruner_warmup_steps=1,
        keep="best",
        report=True,
        study="prune",
    )
    sweep = ws.run_stage("training", "sweep", inputs=refs, params=params, seed=0)

    children = [r for r in ws.runs() if r.info.get("parent_run") == sweep.run_id]
    trained = [r for r in children if r.operation == "sft"]
    assert len(trained) == 3
    [pruned] = [r for r in trained if r.status == "failed"]
    assert "pruned at step" in (pruned.error or "") and pruned.params["learning_rate"] == HOPELESS

    # The candidate is the trial whose own held-out evidence is lowest, as recorded.
    versions = [r.info["inputs"]["model"]["ref"] for r in children if r.operation == "heldout-loss"]
    assert len(versions) == 2
    loss = {v: ws.evidence(v, kind="heldout_loss")[0].metrics["heldout_loss"] for v in versions}
    sweep_evidence = {v: ws.evidence(v, kind="sweep")[0] for v in versions}
    [candidate] = [v for v, e in sweep_evidence.items() if e.metrics["candidate"]]
    assert candidate == min(loss, key=loss.__getitem__)
    best = sweep_evidence[candidate]
    assert best.metrics["trials_pruned"] == 1 and best.metrics["trials_complete"] == 2
    assert (best.metrics["sampler"], best.metrics["seed"]) == ("random", 0)
    assert best.metrics["best_objective"] == pytest.approx(loss[candidate])
    assert set(best.details["space"]) == {"learning_rate", "lora_r"}
    assert [t["state"] for t in best.details["trials"]] == ["complete", "complete", "pruned"]
    # Each trial's version descends from the sweep's base through its own run.
    assert {e.parent for e in ws.lineage(candidate)} >= {refs["base"], refs["dataset"]}

    # The report is one offline HTML file: plotly.js embedded, nothing fetched.
    html = ws.artifacts.read_bytes(best.artifacts["report"]).decode()
    assert "Parameter importances" in html and not re.search(r"<script[^>]*\ssrc=", html)
    assert len(html) > 1_000_000  # plotly.js itself

    # The candidate's validation report has the sweep's section, with the report's digest.
    report = render_report(ws, candidate).markdown
    assert "Hyperparameter sweep" in report and best.artifacts["report"] in report

    # keep="best": the losing trial's files are released to gc; its record stays.
    [loser] = [v for v in versions if v != candidate]
    assert ws.get(loser).status == "released" and ws.get(candidate).status == "active"
    assert ws.gc(older_than_seconds=0)["blobs_deleted"] >= 1


def test_sweep_resumes_after_sigkill_without_repeating_trials(
    store: tuple[Workspace, dict[str, str]], tmp_path: Path
) -> None:
    ws, refs = store
    name = "resume"
    args = [f"{role}={ref}" for role, ref in refs.items()]
    proc = subprocess.Popen(
        [sys.executable, str(SETUP), str(ws.settings.home), name, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        # Wait for the condition (one finished trial), polling on the process itself.
        while not _has_finished(ws, name):
            assert time.monotonic() < deadline, "no trial finished in 300 s"
            try:
                proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the sweep ended before it was killed: {proc.stderr.read()!r}")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = {
        t.number: t.user_attrs["version"] for t in finished(ws, name) if t.state.name == "COMPLETE"
    }
    assert before

    ws.run_stage(
        "training", "sweep", inputs=refs, params=sweep_params(n_trials=3, study=name), seed=0
    )
    after = finished(ws, name)
    done = [t for t in after if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(done) == 3
    complete = {t.number: t.user_attrs["version"] for t in done if t.state.name == "COMPLETE"}
    assert {n: complete[n] for n in before} == before  # kept, not run again
    assert len(set(complete.values())) == len(complete)  # no version made twice
    runs = {t.user_attrs["train_run"] for t in done}
    assert len(runs) == len(done)
    candidates = [
        e
        for v in complete.values()
        for e in ws.evidence(v, kind="sweep")
        if e.metrics["study"] == name and e.metrics["candidate"]
    ]
    assert len(candidates) == 1


def _has_finished(ws: Workspace, study: str) -> bool:
    try:
        return any(t.state.name == "COMPLETE" for t in finished(ws, study))
    except KeyError:  # the study is not created yet
        return False


def test_study_on_postgresql_lives_in_its_own_schema_and_resumes(
    tmp_path: Path, tiny_model: Path, postgres_url: str
) -> None:
    import psycopg

    on_pg = settings(tmp_path / "home").model_copy(update={"database_url": postgres_url})
    with Workspace.open(on_pg) as ws:
        refs = prepare(ws, tmp_path, tiny_model)
        params = sweep_params(n_trials=2, study="on-postgres")
        ran = ws.run_stage("training", "sweep", inputs=refs, params=params, seed=0)
        first = [(t.number, t.state.name) for t in finished(ws, "on-postgres")]
        assert first == [(0, "COMPLETE"), (1, "COMPLETE")]
        # The same sweep again resumes the study: its budget is spent, no trial runs again.
        again = ws.run_stage("training", "sweep", inputs=refs, params=params, seed=0)
        assert [(t.number, t.state.name) for t in finished(ws, "on-postgres")] == first
        assert again.metrics["best_objective"] == ran.metrics["best_objective"]
        best = ws.run(ran.run_id).info["best_version"]
        assert best == ws.run(again.run_id).info["best_version"]
        assert {
            (e.metrics["study"], e.metrics["candidate"]) for e in ws.evidence(best, kind="sweep")
        } == {("on-postgres", True)}
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_name IN ('studies', 'trials', 'alembic_version')"
        ).fetchall()
        versions = {
            schema: conn.execute(f"SELECT version_num FROM {schema}.alembic_version").fetchone()
            for schema in ("public", "lmops_optuna")
        }
    # Optuna's tables and its Alembic version in schema lmops_optuna; lmops' own untouched.
    assert sorted(rows) == [
        ("lmops_optuna", "alembic_version"),
        ("lmops_optuna", "studies"),
        ("lmops_optuna", "trials"),
        ("public", "alembic_version"),
    ]
    lmops_head, optuna_head = versions["public"], versions["lmops_optuna"]
    assert lmops_head is not None and optuna_head is not None
    assert lmops_head[0].isdigit() and lmops_head != optuna_head
    assert not (tmp_path / "home" / "lmops.optuna.db").exists()  # nothing beside on SQLite
