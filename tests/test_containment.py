"""Attacks: names that become paths (roles, pipeline inputs, suite references, export
targets) never reach outside their box, and suites holding code run only once approved."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from lmops_core.errors import (
    AuthenticationError,
    PermissionDeniedError,
    PolicyViolationError,
    UnsafePathError,
    ValidationError,
)
from lmops_core.pipelines import PipelineRunner, load_pipeline
from lmops_core.registry.models import Run
from lmops_core.workspace import Workspace
from tests.conftest import (
    admin_ws,
    grant,
    make_model_folder,
    make_settings,
    policy_ws,
    policy_yaml,
    write_jsonl,
    ws_as,
)

ROLE_ESCAPES = [
    "../../escaped",
    "/tmp/lmops-abs-role",
    "a/b",
    "..",
    "%2e%2e",
    "x\\y",
    "",
    "file:x",
    "-x",
    "r\x00",
]

READER = textwrap.dedent("""
    from lmops_core import hookimpl, StageResult, EvidenceRecord

    class SuiteReader:
        name = "suite-reader"
        description = "lists the suite files it was given"
        input_roles = ("model", "suite")

        def run(self, context):
            folder = context.input("suite").path
            files = sorted(p.name for p in folder.rglob("*") if p.is_file())
            return StageResult(evidence=[EvidenceRecord(kind="eval", subject="model",
                                                        metrics={"acc": 1.0},
                                                        details={"files": files})])

    @hookimpl
    def register_evaluators(register):
        register(SuiteReader())
""")

SUITE_POLICY = policy_yaml(
    "suites",
    """
    - name: suite-approved-for-use
      applies_to: {asset: suite, transition: approved-for-use}
      approvals:
        - {role: validator, count: 1}
      separation_of_duties: true
""",
)


def _runs(ws: Workspace) -> int:
    with ws.db.read() as s:
        return len(s.execute(Run.__table__.select()).all())


# -- stage input roles ------------------------------------------------------------


@pytest.mark.parametrize("role", ROLE_ESCAPES)
def test_input_roles_that_are_not_plain_names_are_refused_before_writing(
    ws: Workspace, tmp_path: Path, role: str
) -> None:
    ref = ws.register_dataset(
        "qa", write_jsonl(tmp_path / "qa.jsonl", [{"text": "hi"}]), shape="text"
    ).ref
    before = (
        set((ws.settings.home / "runs").glob("*"))
        if (ws.settings.home / "runs").exists()
        else set()
    )
    # A NUL byte is refused by the argument check, before the role-name check.
    with pytest.raises(ValidationError, match="not a plain name|without NUL bytes"):
        ws.run_stage("data_preparation", "dedup-exact", inputs={role: ref})
    after = (
        set((ws.settings.home / "runs").glob("*"))
        if (ws.settings.home / "runs").exists()
        else set()
    )
    assert after == before  # no run folder, nothing materialised
    assert not Path("/tmp/lmops-abs-role").exists()
    assert not (ws.settings.home / "escaped").exists()
    assert not (ws.settings.home.parent / "escaped").exists()
    assert _runs(ws) == 0


def test_unknown_roles_are_refused_for_operations_that_declare_theirs(
    ws: Workspace, tmp_path: Path
) -> None:
    ref = ws.register_dataset(
        "qa", write_jsonl(tmp_path / "qa.jsonl", [{"text": "hi"}]), shape="text"
    ).ref
    with pytest.raises(ValidationError, match='unknown input role "extra"'):
        ws.run_stage("data_preparation", "dedup-exact", inputs={"dataset": ref, "extra": ref})
    assert _runs(ws) == 0


# -- pipeline inputs ------------------------------------------------------------------

PIPELINE = """
apiVersion: lmops/v1
kind: Pipeline
name: p
actor: alice
steps:
  - id: data
    register_dataset: {{name: d, path: "{path}", shape: text}}
"""


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../outside.jsonl",
        "sub/../../outside.jsonl",
        "%2e%2e/outside.jsonl",
        "package:lmops_core/../../outside.jsonl",
        "package:../x/y.jsonl",
        "link/outside.jsonl",
        "file:///etc/passwd",
    ],
)
def test_pipeline_paths_stay_in_the_pipeline_folder(
    sqlite_ws: Workspace, tmp_path: Path, path: str
) -> None:
    outside = write_jsonl(tmp_path / "outside.jsonl", [{"text": "secret"}])
    folder = tmp_path / "pipe"
    folder.mkdir()
    (folder / "sub").mkdir()
    os.symlink(tmp_path, folder / "link")
    (folder / "p.yaml").write_text(PIPELINE.format(path=path))
    runner = PipelineRunner(sqlite_ws, load_pipeline(folder / "p.yaml"), base_dir=folder)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the step wraps the path error
        runner.run()
    assert "refusing" in str(caught.value) or "not a package name" in str(caught.value)
    assert sqlite_ws.search("dataset") == []
    assert outside.exists()


def test_a_pipeline_file_inside_its_folder_still_works(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "pipe"
    folder.mkdir()
    write_jsonl(folder / "in.jsonl", [{"text": "fine"}])
    (folder / "p.yaml").write_text(PIPELINE.format(path="in.jsonl"))
    results = PipelineRunner(sqlite_ws, load_pipeline(folder / "p.yaml"), base_dir=folder).run()
    assert results["data"].value == "dataset:d@1"


# -- export targets -----------------------------------------------------------------


def test_export_does_not_follow_links_planted_in_the_target(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ref = sqlite_ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    victim = tmp_path / "victim.json"
    victim.write_text("untouched")
    dest = tmp_path / "out"
    dest.mkdir()
    os.symlink(victim, dest / "config.json")
    with pytest.raises(UnsafePathError, match="outside"):
        sqlite_ws.export(ref, dest)
    assert victim.read_text() == "untouched"


# -- suites: references, code, approval ---------------------------------------------------

TASK = textwrap.dedent("""
    task: t
    dataset_path: json
    dataset_kwargs:
      data_files:
        test: {data}
    output_type: multiple_choice
    doc_to_text: "{{{{q}}}}"
    doc_to_choice: ["a", "b"]
    doc_to_target: 0
""")


def _suite(
    root: Path,
    *,
    data: str = "data.jsonl",
    task_paths: str = "[tasks]",
    extra: dict[str, str] | None = None,
) -> Path:
    folder = root / "suite"
    (folder / "tasks").mkdir(parents=True)
    (folder / "suite.yaml").write_text(f"name: gate\ntasks: [t]\ntask_paths: {task_paths}\n")
    (folder / "tasks" / "t.yaml").write_text(TASK.format(data=data))
    write_jsonl(folder / "tasks" / "data.jsonl", [{"q": "x"}])
    for name, text in (extra or {}).items():
        (folder / "tasks" / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": "/etc/passwd"}, r"tasks/t.yaml: field 'dataset_kwargs.data_files'"),
        ({"data": "../../../etc/passwd"}, r"dataset_kwargs.data_files.*'\.\.'"),
        ({"data": "https://example.com/x.jsonl"}, "URLs"),
        ({"data": "missing.jsonl"}, "is not a file inside"),
        ({"task_paths": "[/etc]"}, r"suite.yaml: field 'task_paths'"),
        ({"task_paths": "[../elsewhere]"}, r"suite.yaml: field 'task_paths'"),
        ({"extra": {"u.yaml": "task: u\ndataset_path: /etc\n"}}, "field 'dataset_path'"),
        (
            {"extra": {"u.yaml": "task: u\ndataset_path: some/hub-dataset\n"}},
            "field 'dataset_path'",
        ),
        ({"extra": {"u.yaml": "include: ../../../../etc/x.yaml\n"}}, "field 'include'"),
        ({"extra": {"u.yaml": "task: u\nprocess_docs: !function nothere.fn\n"}}, "'!function'"),
        (
            {"extra": {"u.yaml": "task: u\ndataset_kwargs: {data_dir: /var}\n"}},
            "dataset_kwargs.data_dir",
        ),
    ],
)
def test_suite_references_outside_the_folder_are_refused(
    ws: Workspace, tmp_path: Path, kwargs: dict, match: str
) -> None:
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ValidationError, match=match):
        ws.register_suite("gate", _suite(tmp_path, **kwargs))
    assert ws.search("suite") == []


def test_a_symlink_in_a_suite_is_refused(ws: Workspace, tmp_path: Path) -> None:
    folder = _suite(tmp_path)
    os.symlink("/etc/passwd", folder / "tasks" / "passwd.jsonl")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        ws.register_suite("gate", folder)


def _governed(tmp_path: Path, db_url: str, policy: str = SUITE_POLICY) -> Workspace:
    plugin = tmp_path / "suite_reader.py"
    plugin.write_text(READER)
    ws = policy_ws(
        tmp_path, policy, db_url, file="suites.yaml", actor="root", plugins=[str(plugin)]
    )
    admin = admin_ws(ws)
    admin.governance.grant_role("eng", "submitter")
    admin.governance.grant_role("val", "validator")
    return admin


def test_a_suite_with_code_runs_only_once_approved(tmp_path: Path, db_url: str) -> None:
    ws = _governed(tmp_path, db_url)
    eng = ws_as(ws, "eng")
    code = "def fn(docs):\n    return docs\n"
    folder = _suite(
        tmp_path, extra={"utils.py": code, "u.yaml": "task: u\nprocess_docs: !function utils.fn\n"}
    )
    suite = eng.register_suite("gate", folder)
    files = {c["path"] for c in ws.get(suite.ref).meta["code_files"]}  # type: ignore[attr-defined]
    assert files == {"tasks/utils.py", "tasks/u.yaml"}
    model = eng.register_model("m", make_model_folder(tmp_path / "m")).ref
    with pytest.raises(PolicyViolationError, match="contains code .* not approved-for-use"):
        eng.run_stage("evaluation", "suite-reader", inputs={"model": model, "suite": suite.ref})
    assert _runs(ws) == 1  # the refused attempt is recorded as a failed run
    with pytest.raises(ValidationError, match="only suite versions can enter approved-for-use"):
        eng.governance.request_promotion(model, to="approved-for-use")
    with pytest.raises(ValidationError, match="a suite version can only enter approved-for-use"):
        eng.governance.request_promotion(suite.ref, to="production")
    req = eng.governance.request_promotion(suite.ref, to="approved-for-use")
    assert req.status == "pending"
    with pytest.raises(PermissionDeniedError):
        eng.governance.decide(req.id, approve=True, role="validator", comment="mine")
    ws_as(ws, "val").governance.decide(
        req.id, approve=True, role="validator", comment="read utils.py: it only filters docs"
    )
    assert ws.get(suite.ref).stage == "approved-for-use"
    eng.run_stage("evaluation", "suite-reader", inputs={"model": model, "suite": suite.ref})

    # Editing utils.py on the host changes nothing that suite:gate@1 runs ...
    (folder / "tasks" / "utils.py").write_text("import os\nos.system('echo pwned')\n")
    out = eng.run_stage("evaluation", "suite-reader", inputs={"model": model, "suite": suite.ref})
    assert out.evidence_ids
    # ... and registering the edit makes a new version that is not approved.
    second = eng.register_suite("gate", folder)
    assert second.digest != suite.digest
    with pytest.raises(PolicyViolationError, match="not approved-for-use"):
        eng.run_stage("evaluation", "suite-reader", inputs={"model": model, "suite": second.ref})


def test_a_suite_without_code_needs_no_approval(tmp_path: Path, db_url: str) -> None:
    ws = _governed(tmp_path, db_url)
    suite = ws.register_suite("plain", _suite(tmp_path))
    assert ws.get(suite.ref).meta["code_files"] == []  # type: ignore[attr-defined]
    model = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    ws.run_stage("evaluation", "suite-reader", inputs={"model": model, "suite": suite.ref})


def test_without_a_suite_rule_approved_for_use_is_blocked(tmp_path: Path, db_url: str) -> None:
    ws = _governed(
        tmp_path,
        db_url,
        policy=SUITE_POLICY.replace("asset: suite", "asset: dataset").replace(
            "approved-for-use", "approved-for-training"
        ),
    )
    suite = ws_as(ws, "eng").register_suite("gate", _suite(tmp_path, extra={"utils.py": "x = 1\n"}))
    with pytest.raises(PolicyViolationError):
        ws_as(ws, "eng").governance.request_promotion(suite.ref, to="approved-for-use")
    assert ws.get(suite.ref).stage is None


def test_shipped_high_risk_policy_needs_two_people_for_a_code_suite(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    plugin = tmp_path / "suite_reader.py"
    plugin.write_text(READER)
    ws = Workspace.open(
        make_settings(
            tmp_path / "home", policies_dir=repo / "policies", actor="root", plugins=[str(plugin)]
        )
    )
    for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer")):
        grant(ws, user, role)
    suite = ws_as(ws, "eng").register_suite("gate", _suite(tmp_path, extra={"utils.py": "x = 1\n"}))
    req = ws_as(ws, "eng").governance.request_promotion(suite.ref, to="approved-for-use")
    assert req.required_approvals == {"validator": 1, "risk_officer": 1}
    ws_as(ws, "val").governance.decide(req.id, approve=True, role="validator", comment="ok")
    assert ws.get(suite.ref).stage is None
    ws_as(ws, "risk").governance.decide(req.id, approve=True, role="risk_officer", comment="ok")
    assert ws.get(suite.ref).stage == "approved-for-use"


# -- --allow-pickle is a policy decision, recorded as evidence -----------------------------------


def test_allow_pickle_needs_a_permitting_rule_and_is_recorded(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    ws = Workspace.open(
        make_settings(tmp_path / "home", policies_dir=repo / "policies", actor="root")
    )
    eng = ws_as(ws, "eng", "submitter")
    grant(ws, "chief", "admin")
    bare_admin = ws.as_actor("chief")  # an admin's name, without the admin's credential
    ws = ws_as(ws, "root", "admin")
    folder = make_model_folder(tmp_path / "m")
    (folder / "pytorch_model.bin").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    # The admin's name alone does not allow pickle: it is a decision and needs a credential.
    with pytest.raises(AuthenticationError, match="needs a credential"):
        bare_admin.register_model("m", folder, allow_pickle=True)
    with pytest.raises(PermissionDeniedError, match="allow-pickle-weights"):
        eng.register_model("m", folder, allow_pickle=True)
    with pytest.raises(PermissionDeniedError, match="no policy rule permits"):
        ws.register_model("risky", folder, risk_tier="high", allow_pickle=True)
    version = ws.register_model("m", folder, allow_pickle=True)
    (ev,) = ws.evidence(version.ref, kind="pickle_allowed")
    assert ev.details["allowed_by"] == "root"
    assert [f["file"] for f in ev.details["files"]] == ["pytorch_model.bin"]
