"""Each kind of failure has its own exit code, documented in `lmops --help` and docs/cli.md."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmops_core import errors
from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode, exit_code_for, exit_codes_help
from tests.cli.conftest import Shell
from tests.conftest import write_jsonl

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_every_error_class_has_a_deliberate_code() -> None:
    expected = {
        errors.NotFoundError: ExitCode.NOT_FOUND,
        errors.PolicyViolationError: ExitCode.POLICY_REFUSED,
        errors.PermissionDeniedError: ExitCode.PERMISSION_DENIED,
        errors.AuthenticationError: ExitCode.PERMISSION_DENIED,
        errors.ValidationError: ExitCode.INVALID_INPUT,
        errors.UnsafePathError: ExitCode.INVALID_INPUT,
        errors.UnsafeContentError: ExitCode.INVALID_INPUT,
        errors.UnsafeDestinationError: ExitCode.INVALID_INPUT,
        errors.PolicyError: ExitCode.INVALID_INPUT,
        errors.ConfigurationError: ExitCode.INVALID_INPUT,
        errors.IntegrityError: ExitCode.INTEGRITY,
        errors.AuditChainError: ExitCode.INTEGRITY,
        errors.AuditRefusedError: ExitCode.INTEGRITY,
        errors.AlreadyExistsError: ExitCode.CONFLICT,
        errors.ConflictError: ExitCode.CONFLICT,
        errors.PluginError: ExitCode.ERROR,
        errors.StageError: ExitCode.ERROR,
        errors.LmopsError: ExitCode.ERROR,
    }
    classes = {
        c
        for _, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, errors.LmopsError)
    }
    assert classes == set(expected), "a new error class needs a decision here"
    for cls, code in expected.items():
        assert exit_code_for(cls("x")) == code, cls


def test_codes_are_documented_in_help_and_docs() -> None:
    shown = CliRunner().invoke(app, ["--help"]).output
    documented = DOCS.read_text(encoding="utf-8")
    for code in ExitCode:
        name = code.name.lower().replace("_", "-")
        assert f"{code.value}  {name}" in shown
        assert f"| {code.value} | `{name}` |" in documented
    assert len(exit_codes_help().splitlines()) == len(ExitCode)


def test_not_found(governed: Shell) -> None:
    result = governed("models", "show", "nosuch")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stderr.strip() == "Error: model 'nosuch' does not exist"


def test_refused_by_policy(governed: Shell, tmp_path: Path) -> None:
    governed.ok("models", "register", "bare", str(tmp_path / "m"), who="eng")  # no evidence
    result = governed("promote", "model:bare@1", "--to", "production", who="eng")
    assert result.exit_code == ExitCode.POLICY_REFUSED
    assert "refused by policy" in result.stderr and "missing" in result.stderr
    explained = governed("policy", "explain", "--version", "bare@1", "--to", "production")
    assert explained.exit_code == ExitCode.POLICY_REFUSED and "BLOCKED" in explained.stdout


def test_invalid_input(shell: Shell, tmp_path: Path) -> None:
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"prompt": "a"}])
    result = shell("datasets", "register", "qa", str(bad), "--shape", "instruction")
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "bad.jsonl:1: response: missing required field" in result.stderr
    usage = shell("models", "show")  # a missing argument is invalid input too
    assert usage.exit_code == ExitCode.INVALID_INPUT


def test_permission_denied(governed: Shell) -> None:
    request = governed.json("promote", "model:chat@1", "--to", "production", who="eng")
    own = governed(
        "requests", "approve", request["id"], "--role", "validator", "--comment", "mine", who="eng"
    )
    assert own.exit_code == ExitCode.PERMISSION_DENIED
    posing = governed(
        "requests",
        "approve",
        request["id"],
        "--role",
        "validator",
        "--comment",
        "lgtm",
        who="val-by-name-only",
    )
    assert posing.exit_code == ExitCode.PERMISSION_DENIED
    governed.tokens["forged"] = "lmops_not-a-real-token"
    unauthenticated = governed("requests", "list", who="forged")
    assert unauthenticated.exit_code == ExitCode.PERMISSION_DENIED, unauthenticated.output


def test_integrity(governed: Shell) -> None:
    governed.ok("audit", "verify")
    db = sqlite3.connect(governed.home / "lmops.db")
    db.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    db.commit()
    db.close()
    result = governed("audit", "verify")
    assert result.exit_code == ExitCode.INTEGRITY
    assert "audit log BROKEN at event 2" in result.stderr


def test_conflict(governed: Shell) -> None:
    result = governed("init", "--admin", "mallory")
    assert result.exit_code == ExitCode.CONFLICT and "already has an admin" in result.stderr


def test_generic_error(shell: Shell) -> None:
    result = shell("stage", "data_preparation", "no-such-operation")
    assert result.exit_code == ExitCode.ERROR
    assert 'no data preparation operation named "no-such-operation"' in result.stderr


@pytest.mark.parametrize("code", list(ExitCode))
def test_codes_are_distinct_and_stable(code: ExitCode) -> None:
    # Scripts depend on these numbers: changing one is a breaking change.
    stable = {
        "OK": 0,
        "ERROR": 1,
        "INVALID_INPUT": 2,
        "NOT_FOUND": 3,
        "POLICY_REFUSED": 4,
        "PERMISSION_DENIED": 5,
        "INTEGRITY": 6,
        "CONFLICT": 7,
        "MONITOR_BREACH": 8,
        "WAITING": 9,
    }
    assert stable[code.name] == code.value


def test_bundle_verify_codes(governed: Shell, tmp_path: Path) -> None:
    request = governed.json("promote", "model:chat@1", "--to", "production", who="eng")
    governed.ok(
        "requests", "approve", request["id"], "--role", "validator", "--comment", "ok", who="val"
    )
    governed.ok(
        "requests",
        "approve",
        request["id"],
        "--role",
        "risk_officer",
        "--comment",
        "ok",
        who="risk",
    )
    bundle = tmp_path / "bundle"
    made = governed.json(
        "bundle", "create", "chat@1", "--stage", "production", "--out", str(bundle), who="eng"
    )
    assert made["ref"] == "model:chat@1" and made["request_id"] == request["id"]
    assert governed.json("bundle", "verify", str(bundle))["ok"] is True
    governed.ok(
        "revoke", "model:chat@1", "--stage", "production", "--reason", "incident 7", who="risk"
    )
    revoked = governed("bundle", "verify", str(bundle))
    assert revoked.exit_code == ExitCode.POLICY_REFUSED and "incident 7" in revoked.stderr
    (bundle / "files" / "config.json").write_text('{"model_type": "evil"}')
    tampered = governed("bundle", "verify", str(bundle), "--offline")
    assert tampered.exit_code == ExitCode.INTEGRITY and "config.json" in tampered.stderr
