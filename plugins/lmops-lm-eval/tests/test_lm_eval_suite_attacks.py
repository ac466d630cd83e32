"""Attacks on evaluation code: host task folders, task data outside the task, code suites
that were never approved, and task code edited after the suite was registered."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lmops_lm_eval.judge import JudgeEvaluator
from lmops_lm_eval.lm_eval_op import LmEvalEvaluator

from lmops_core.errors import PolicyViolationError, UnsafePathError, ValidationError
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]


def _task_folder(root: Path, *, data: str = "data/parity.jsonl", upper: bool = True) -> Path:
    folder = root / "tasks"
    (folder / "data").mkdir(parents=True)
    rows = [{"q": f"is {i} even?", "options": ["yes", "no"], "gold": i % 2} for i in range(6)]
    (folder / "data" / "parity.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "utils.py").write_text(
        "def process_docs(dataset):\n"
        f"    return dataset.map(lambda d: {{**d, 'q': d['q'].{'upper' if upper else 'lower'}()}})\n"
    )
    (folder / "parity.yaml").write_text(
        "task: user_parity\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    test: {data}\n"
        "test_split: test\nprocess_docs: !function utils.process_docs\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "{{q}} Answer:"\ndoc_to_choice: "{{options}}"\ndoc_to_target: gold\n'
        "metric_list:\n  - metric: acc\n"
    )
    return folder


def _suite_folder(root: Path, **kwargs: Any) -> Path:
    suite = root / "suite"
    suite.mkdir(parents=True)
    _task_folder(suite, **kwargs)
    (suite / "suite.yaml").write_text("name: parity\ntasks: [user_parity]\ntask_paths: [tasks]\n")
    return suite


@pytest.fixture
def run_on_suite(
    make_context: Any, model_input: Any, suite_input: Any, tiny_model: Path, tmp_path: Path
) -> Callable[[Path], Any]:
    """``run_on_suite(folder)``: "lm-eval" on the tiny model with ``folder`` as its suite
    (not registered), working in ``tmp_path / "wd"``."""

    def run(suite: Path) -> Any:
        inputs = {"model": model_input(tiny_model), "suite": suite_input(suite)}
        return LmEvalEvaluator().run(make_context(tmp_path / "wd", inputs, {}, "lm-eval"))

    return run


@pytest.mark.parametrize(
    "params",
    [
        {"suite": "/etc/lmops/suite.yaml"},
        {"suite": "suite.yaml"},
        {"task_paths": ["/tmp"]},
        {"task_paths": []},
        {"tasks": ["user_parity"], "task_paths": ["."]},
    ],
)
def test_host_task_folders_are_refused(
    make_context: Any, model_input: Any, tiny_model: Path, tmp_path: Path, params: dict[str, Any]
) -> None:
    ctx = make_context(tmp_path, {"model": model_input(tiny_model)}, params, "lm-eval")
    with pytest.raises(
        ValidationError, match="is not accepted: task folders and suite files can run code"
    ):
        LmEvalEvaluator().run(ctx)
    judge_ctx = make_context(
        tmp_path,
        {"model": model_input(tiny_model), "judge": model_input(tiny_model, role="judge")},
        {k: v for k, v in params.items() if k != "tasks"},
        "judge",
    )
    with pytest.raises(ValidationError, match="is not accepted"):
        JudgeEvaluator().run(judge_ctx)


@pytest.mark.parametrize(
    "data",
    [
        "/etc/passwd",
        "../../../../../etc/passwd",
        "data/../../outside.jsonl",
        "file:///etc/passwd",
        "data/link.jsonl",
    ],
)
def test_task_data_outside_the_task_folder_is_refused_at_run_time(
    run_on_suite: Callable[[Path], Any], tmp_path: Path, data: str
) -> None:
    # Even a suite folder that never went through registration cannot read host files.
    (tmp_path / "outside.jsonl").write_text('{"q": "secret"}\n')
    suite = _suite_folder(tmp_path, data=data)
    os.symlink("/etc/passwd", suite / "tasks" / "data" / "link.jsonl")
    with pytest.raises(UnsafePathError, match="dataset_kwargs.data_files"):
        run_on_suite(suite)
    assert not list((tmp_path / "wd").rglob("*.jsonl"))


def test_task_paths_outside_the_suite_are_refused_at_run_time(
    run_on_suite: Callable[[Path], Any], tmp_path: Path
) -> None:
    suite = _suite_folder(tmp_path)
    (suite / "suite.yaml").write_text(f"name: p\ntasks: [user_parity]\ntask_paths: [{tmp_path}]\n")
    with pytest.raises(UnsafePathError, match="task_paths"):
        run_on_suite(suite)


def _workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.open(
        Settings(home=tmp_path / "home", actor="root", policies_dir=REPO / "policies")
    )
    admin = ws.with_token(ws.governance.bootstrap_admin("root"))
    for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer")):
        admin.governance.grant_role(user, role)
    return admin


def _as(ws: Workspace, user: str) -> Workspace:
    """``ws`` acting as ``user`` through a real token of theirs (decisions need one)."""
    return ws.with_token(ws.governance.create_token(user, description="test"))


def test_a_code_suite_runs_only_once_approved_and_edits_do_not_leak_in(
    tiny_model: Path, tmp_path: Path
) -> None:
    ws = _workspace(tmp_path)
    eng = _as(ws, "eng")
    folder = _suite_folder(tmp_path / "src")
    suite = eng.register_suite("parity", folder)
    model = eng.register_model("tiny", tiny_model).ref
    inputs = {"model": model, "suite": suite.ref}
    with pytest.raises(
        PolicyViolationError,
        match=r"contains code \(tasks/parity.yaml, "
        r"tasks/utils.py\)",
    ):
        eng.run_stage("evaluation", "lm-eval", inputs=inputs)
    assert ws.evidence(model, kind="eval") == []

    req = eng.governance.request_promotion(suite.ref, to="approved-for-use")
    _as(ws, "val").governance.decide(
        req.id, approve=True, role="validator", comment="process_docs only upper-cases questions"
    )
    assert ws.get(suite.ref).stage is None  # the shipped policies want two people
    _as(ws, "risk").governance.decide(
        req.id, approve=True, role="risk_officer", comment="second reading agrees"
    )
    # The host copy is edited after approval: suite:parity@1 must still run what was approved.
    (folder / "tasks" / "utils.py").write_text(
        "def process_docs(dataset):\n    return dataset.map(lambda d: {**d, 'q': 'EDITED'})\n"
    )
    eng.run_stage("evaluation", "lm-eval", inputs=inputs, params={"limit": 2})
    (ev,) = ws.evidence(model, kind="eval")
    rows = [
        json.loads(x)
        for x in ws.artifacts.read_bytes(ev.artifacts["samples.jsonl"]).decode().splitlines()
    ]
    assert rows[0]["doc"]["q"] == "IS 0 EVEN?"
    code = {c["path"]: c["digest"] for c in ev.details["suite_code"]}
    assert set(code) == {"tasks/parity.yaml", "tasks/utils.py"}
    registered = {c["path"]: c["digest"] for c in ws.get(suite.ref).meta["code_files"]}  # type: ignore[attr-defined]
    assert code == registered
    second = eng.register_suite("parity", folder)
    assert second.digest != suite.digest
    with pytest.raises(PolicyViolationError, match="not approved-for-use"):
        eng.run_stage("evaluation", "lm-eval", inputs={"model": model, "suite": second.ref})


def test_registration_refuses_system_files_as_task_data(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    with pytest.raises(
        UnsafePathError,
        match=r"tasks/parity.yaml: field "
        r"'dataset_kwargs.data_files'",
    ):
        ws.register_suite("parity", _suite_folder(tmp_path, data="/etc/passwd"))
