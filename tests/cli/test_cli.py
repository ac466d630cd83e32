"""The CLI is a thin layer: each command works, explains itself, and fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode
from tests.conftest import make_model_folder, write_jsonl


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_ACTOR": "cli-user",
        "COLUMNS": "200",
    }


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


@pytest.mark.parametrize(
    "group", ["", "datasets", "models", "prompts", "suites", "runs", "evidence", "audit"]
)
def test_help_explains(group: str) -> None:
    result = CliRunner().invoke(app, [*([group] if group else []), "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output and len(result.output) > 200


def test_registry_round_trip(env: dict[str, str], tmp_path: Path) -> None:
    assert "lmops store ready: database sqlite" in run(env, "init")
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "a", "response": "b"}] * 3)
    out = run(env, "datasets", "register", "qa", str(data), "--shape", "instruction")
    assert "registered dataset:qa@1 (3 records" in out
    out = run(env, "stage", "data_preparation", "dedup-exact", "--input", "dataset=dataset:qa@1")
    assert "dataset: dataset:qa@2" in out
    shown = json.loads(run(env, "datasets", "show", "qa@2", "--json"))
    assert shown["version"]["record_count"] == 1
    assert shown["lineage"][0]["parent"] == "dataset:qa@1"
    model = make_model_folder(tmp_path / "m")
    assert "registered model:tiny@1 (base" in run(env, "models", "register", "tiny", str(model))
    run(env, "models", "tag", "tiny@1", "team=cards")
    found = json.loads(run(env, "models", "search", "--tag", "team=cards", "--json"))
    assert [v["ref"] for v in found] == ["model:tiny@1"]
    listed = json.loads(run(env, "models", "list", "--json"))
    assert [(m["name"], m["latest_version"]) for m in listed] == [("tiny", 1)]
    assert "tiny" in run(env, "models", "list")
    assert "prompt:hello@1" in run(env, "prompts", "create", "hello", "--template", "Hi {name}")
    runs = json.loads(run(env, "runs", "list", "--json"))
    assert runs[0]["operation"] == "dedup-exact" and runs[0]["actor"] == "cli-user"
    assert runs[0]["id"] in run(env, "runs", "show", runs[0]["id"])
    ev = json.loads(run(env, "evidence", "list", "dataset:qa@2", "--json"))
    assert {e["kind"] for e in ev} == {"dataset_card", "data_step"}
    assert "dataset:qa@2  <-derived_from-  dataset:qa@1" in run(env, "lineage", "dataset:qa@2")
    assert "audit log verified" in run(env, "audit", "verify")
    log = json.loads(run(env, "audit", "log", "--json", "--limit", "500"))
    assert log[0]["action"] == "dataset.create"


def test_errors_are_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a"}])
    lmops = Path(sys.executable).with_name("lmops")
    import os

    result = subprocess.run(
        [str(lmops), "datasets", "register", "qa", str(bad), "--shape", "instruction"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == ExitCode.INVALID_INPUT
    assert result.stderr.strip() == "Error: bad.jsonl:1: response: missing required field"
    assert "Traceback" not in result.stderr


def test_audit_verify_fails_with_exit_code(env: dict[str, str], tmp_path: Path) -> None:
    import sqlite3

    run(env, "init")
    data = write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}])
    run(env, "datasets", "register", "t", str(data), "--shape", "text")
    db = sqlite3.connect(Path(env["LMOPS_HOME"]) / "lmops.db")
    db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    db.commit()
    db.close()
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == ExitCode.INTEGRITY
    assert "audit log BROKEN at event 2" in result.output
