"""Governance from the shell: lint, explain, promote, review, tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.settings import get_settings
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings, policy_dir
from tests.governance.conftest import POLICY

# Lint checks evidence kinds against those plugins declare; dataset_card is the core's own.
DATASET_POLICY = (
    POLICY.replace("asset: model", "asset: dataset")
    .replace("kind: eval", "kind: dataset_card")
    .replace("evidence.eval.metrics.acc", "evidence.dataset_card.metrics.records")
    .replace("production.evidence.eval", "production.evidence.dataset_card")
)


def test_lint_reports_file_line_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DATASET_POLICY.replace("records >= 0.5", "records >= >= 0.5"))
    result = CliRunner().invoke(
        app,
        ["policy", "lint", str(bad)],
        env={"LMOPS_HOME": str(tmp_path), "LMOPS_LOAD_ENTRY_POINTS": "0"},
    )
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "bad.yaml:" in result.output and "accuracy" in result.output
    good = tmp_path / "good.yaml"
    good.write_text(DATASET_POLICY)
    ok = CliRunner().invoke(
        app,
        ["policy", "lint", str(good)],
        env={"LMOPS_HOME": str(tmp_path), "LMOPS_LOAD_ENTRY_POINTS": "0"},
    )
    assert ok.exit_code == 0, ok.output


def _env(tmp_path: Path, policy: str) -> dict[str, str]:
    """The environment of a shell on a store under ``tmp_path/home`` governed by ``policy``."""
    return {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_POLICIES_DIR": str(policy_dir(tmp_path, policy, "p.yaml")),
        "LMOPS_LOAD_ENTRY_POINTS": "0",
        "COLUMNS": "200",
    }


def test_explain_promote_and_review(tmp_path: Path) -> None:
    env = _env(tmp_path, POLICY)
    home, policies = tmp_path / "home", tmp_path / "policies"

    def cli(who: str, *args: str) -> object:
        """Run as ``who``: with their token when they have one, else by name only."""
        get_settings.cache_clear()  # each real CLI call is a new process with fresh settings
        creds = {"LMOPS_TOKEN": tokens[who]} if who in tokens else {"LMOPS_ACTOR": who}
        return CliRunner().invoke(app, list(args), env={**env, **creds})

    tokens: dict[str, str] = {}
    boot = cli("nobody", "init", "--admin", "boss")
    assert boot.exit_code == 0, boot.output  # type: ignore[attr-defined]
    tokens["boss"] = boot.output.strip().splitlines()[-1]  # type: ignore[attr-defined]
    again = cli("mallory", "init", "--admin", "mallory")
    assert again.exit_code == ExitCode.CONFLICT  # type: ignore[attr-defined]
    assert "already has an admin" in again.stderr  # type: ignore[attr-defined]
    for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer")):
        made = cli("boss", "tokens", "create", "--user", user, "--role", role)
        tokens[user] = made.output.strip()  # type: ignore[attr-defined]
    ws = Workspace.open(
        make_settings(home, policies_dir=policies, actor="eng"), token=tokens["eng"]
    )  # a known author: separation of duties needs one
    v = ws.register_model("chat", make_model_folder(tmp_path / "m"))
    ws.close()

    blocked = cli("eng", "policy", "explain", "--version", "chat@1", "--to", "production")
    assert blocked.exit_code == ExitCode.POLICY_REFUSED  # type: ignore[attr-defined]
    assert "BLOCKED" in blocked.output  # type: ignore[attr-defined]
    assert "missing" in blocked.output.lower()  # type: ignore[attr-defined]
    ws = Workspace.open(make_settings(home, policies_dir=policies, actor="val"))
    ws.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
    ws.close()
    allowed = cli("eng", "policy", "explain", "--version", "chat@1", "--to", "production")
    assert allowed.exit_code == 0 and "ALLOWED" in allowed.output  # type: ignore[attr-defined]
    requested = cli("eng", "promote", "model:chat@1", "--to", "production")
    assert requested.exit_code == 0, requested.output  # type: ignore[attr-defined]
    req_id = requested.output.split("request ")[1].split()[0]  # type: ignore[attr-defined]
    assert req_id in cli("val", "requests", "list").output  # type: ignore[attr-defined]
    self_approve = cli(
        "eng", "requests", "approve", req_id, "--role", "validator", "--comment", "mine"
    )
    assert self_approve.exit_code == ExitCode.PERMISSION_DENIED  # type: ignore[attr-defined]
    # The attack of issue 12: approve "as" someone else by naming them. A name is not enough.
    for name in ("val", "risk"):
        get_settings.cache_clear()
        posing = CliRunner().invoke(
            app,
            ["requests", "approve", req_id, "--role", "validator", "--comment", "lgtm"],
            env={**env, "LMOPS_ACTOR": name},
        )
        assert posing.exit_code == ExitCode.PERMISSION_DENIED
        assert "needs a credential" in posing.stderr
    get_settings.cache_clear()
    minted = CliRunner().invoke(
        app,
        ["tokens", "create", "--user", "eng", "--role", "admin"],
        env={**env, "LMOPS_ACTOR": "boss"},
    )
    assert minted.exit_code == ExitCode.PERMISSION_DENIED
    assert "needs a credential of 'boss'" in minted.stderr
    cli("val", "requests", "approve", req_id, "--role", "validator", "--comment", "validated")
    done = cli("risk", "requests", "approve", req_id, "--role", "risk_officer", "--comment", "ok")
    assert "approved" in done.output  # type: ignore[attr-defined]
    shown = cli("val", "models", "show", "chat@1", "--json")
    assert '"stage": "production"' in shown.output  # type: ignore[attr-defined]
    token = cli("boss", "tokens", "create", "--user", "auditor", "--role", "viewer")
    assert token.output.startswith("lmops_")  # type: ignore[attr-defined]


def test_personal_keys_from_the_shell(tmp_path: Path) -> None:
    env = _env(tmp_path, POLICY.replace("- {role: risk_officer, count: 1}", ""))
    home, policies = tmp_path / "home", tmp_path / "policies"

    def cli(extra: dict[str, str], *args: str) -> Any:
        get_settings.cache_clear()
        return CliRunner().invoke(app, list(args), env={**env, **extra})

    boss = {"LMOPS_TOKEN": cli({}, "init", "--admin", "boss").output.strip().splitlines()[-1]}
    made = cli({"LMOPS_ACTOR": "val"}, "keys", "generate", "--out", str(tmp_path / "val.key"))
    assert made.exit_code == 0 and "BEGIN PUBLIC KEY" in made.output, made.output
    assert (tmp_path / "val.key").stat().st_mode & 0o777 == 0o600
    pub = str(tmp_path / "val.key.pub")
    # Registering needs an admin's credential: a name is not enough, nor a non-admin's token.
    posing = cli({"LMOPS_ACTOR": "boss"}, "keys", "register", "val", pub)
    assert posing.exit_code == ExitCode.PERMISSION_DENIED
    assert "needs a credential" in posing.stderr
    assert cli(boss, "keys", "register", "val", pub).exit_code == 0
    eng = {
        "LMOPS_TOKEN": cli(
            boss, "tokens", "create", "--user", "eng", "--role", "submitter"
        ).output.strip()
    }
    cli(boss, "users", "grant", "val", "validator")
    ws = Workspace.open(
        make_settings(home, policies_dir=policies, actor="eng"), token=eng["LMOPS_TOKEN"]
    )
    v = ws.register_model("chat", make_model_folder(tmp_path / "m"))
    ws.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
    ws.close()
    req_id = cli(eng, "promote", v.ref, "--to", "production").output.split("request ")[1].split()[0]
    val = {"LMOPS_SIGNING_KEY": str(tmp_path / "val.key")}
    done = cli(val, "requests", "approve", req_id, "--role", "validator", "--comment", "signed")
    assert done.exit_code == 0 and "approved" in done.output, done.output
    listed = cli(boss, "keys", "list")
    assert "val" in listed.output and "boss" in listed.output
    verified = cli({}, "audit", "verify")
    assert (
        verified.exit_code == 0 and "1 signed decision(s) and 1 signing key(s)" in verified.output
    ), verified.output
    assert cli(val, "keys", "revoke", "val").exit_code == 0
    after = cli(val, "requests", "list")
    assert after.exit_code == ExitCode.PERMISSION_DENIED, after.output
    assert "not registered or was revoked" in after.stderr
