"""Pipeline files: validation with precise errors, and a stable round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmops_core.cli.demo import demo_pipeline_path
from lmops_core.errors import ValidationError
from lmops_core.pipelines import load_pipeline


def test_demo_pipeline_round_trips(tmp_path: Path) -> None:
    first = load_pipeline(demo_pipeline_path())
    dumped = first.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    copy = tmp_path / "copy.yaml"
    copy.write_text(yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True))
    second = load_pipeline(copy)
    assert second == first
    assert [s.action()[0] for s in second.steps][:3] == ["people", "run", "register_dataset"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "apiVersion: lmops/v1\nkind: Pipeline\nname: x\nsteps:\n  - id: a\n    verify_audit: {}\n"
            "    grant: {u: [admin]}\n",
            "step 'a' needs exactly one action",
        ),
        (
            "apiVersion: lmops/v1\nkind: Pipeline\nname: x\nsteps:\n  - id: a\n    run: {stage: t}\n",
            "steps.0.run.operation: Field required",
        ),
        (
            "apiVersion: lmops/v1\nkind: Pipeline\nname: x\nbogus: 1\nsteps: []\n",
            "bogus: Extra inputs are not permitted",
        ),
        (
            "apiVersion: lmops/v1\nkind: Pipeline\nname: x\nsteps:\n  - id: a\n    verify_audit: {}\n"
            "  - id: a\n    verify_audit: {}\n",
            "step id 'a' is used twice",
        ),
        ("{unclosed", "not valid YAML"),
    ],
)
def test_bad_pipeline_files_name_the_problem(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(body)
    with pytest.raises(ValidationError, match=message):
        load_pipeline(path)


def test_register_suite_step_versions_the_folder(tmp_path: Path) -> None:
    import shutil

    from lmops_core.pipelines import PipelineRunner
    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

    shutil.copytree(demo_pipeline_path().parent / "suite", tmp_path / "gate")
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: lmops/v1\nkind: Pipeline\nname: x\nsteps:\n"
        "  - id: gate\n    register_suite: {name: gate, path: gate}\n"
    )
    with Workspace.open(Settings(home=tmp_path / "home")) as ws:
        results = PipelineRunner(ws, load_pipeline(path), base_dir=tmp_path).run()
        assert results["gate"].value == results["gate"].outputs["suite"] == "suite:gate@1"
        assert ws.get("suite:gate@1").digest == ws.get(results["gate"].value).digest


def test_every_action_a_step_may_name_has_a_handler() -> None:
    from lmops_core.pipelines.actions import ACTIONS
    from lmops_core.pipelines.schema import Step

    named = set(Step.model_fields) - {"id", "as_", "title"}
    assert set(ACTIONS) == named
