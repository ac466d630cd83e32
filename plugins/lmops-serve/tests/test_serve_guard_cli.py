"""A guard version's whole path through the ``lmops`` CLI: registered, probed with a tiny
model (``over_refusal_rate`` recorded from the benign probes lmops-safety ships), promoted
and approved, pinned in a bundle, served by ``lmops serve-model`` and named in ``/version``
and the inference log; a looser configuration is a new version that starts unapproved."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.settings import get_settings

from .test_serve_guard_version import GUARD_RULE

#: The guard rule of the pinning tests (probe evidence, a validator), and a model rule.
POLICY = GUARD_RULE + (
    "  - name: model-prod\n"
    "    applies_to: {asset: model, transition: production}\n"
    "    approvals: [{role: validator, count: 1}]\n"
    "    separation_of_duties: true\n"
)
STRICT = "name: strict-retail\npii: {mode: redact, options: {patterns_only: true}}\n"
LOOSER = "name: strict-retail\npii: {mode: 'off'}\n"
PROBE_PARAMS = ("max_probes_per_group=1", "max_new_tokens=4", "threads=1")


def _shell(tmp_path: Path) -> Callable[..., Result]:
    """``cli(user, *args)``: one ``lmops`` command as ``user`` (their token once they have one)."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "guard-path.yaml").write_text(POLICY, encoding="utf-8")
    env = {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_POLICIES_DIR": str(policies),
        "COLUMNS": "200",
    }
    tokens: dict[str, str] = {}

    def cli(user: str, *args: str) -> Result:
        get_settings.cache_clear()  # each real CLI call is a new process with fresh settings
        creds = {"LMOPS_TOKEN": tokens[user]} if user in tokens else {"LMOPS_ACTOR": user}
        result = CliRunner().invoke(app, list(args), env={**env, **creds})
        if args[:2] == ("init", "--admin"):
            tokens[user] = result.output.strip().splitlines()[-1]
        elif args[:2] == ("tokens", "create"):
            tokens[args[3]] = result.output.strip()
        return result

    cli.env = env  # type: ignore[attr-defined]
    return cli


def _ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return json.loads(result.stdout)


def _approved(cli: Callable[..., Result], ref: str) -> None:
    """``ref`` promoted to production by eng and approved by val, from the shell."""
    requested = _ok(cli("eng", "promote", ref, "--to", "production", "--json"))
    approve = ("requests", "approve", requested["id"], "--role", "validator", "--comment", "ok")
    assert cli("val", *approve).exit_code == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(env: dict[str, str], bundle: Path, config: Path, log: Path) -> tuple[Any, str]:
    """``lmops serve-model`` in its own process; returns it and its URL once it answers."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own CLI, arguments fixed by the test
        [sys.executable, "-c", "from lmops_core.cli import main; main()", "serve-model"]
        + [str(bundle), "--guard-config", str(config), "--log-path", str(log)]
        + ["--port", str(port)],
        env={**os.environ, **env, "LMOPS_ACTOR": "ops"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240  # a bound on a hung start, not a speed expectation
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.5)
    server.kill()
    raise AssertionError("lmops serve-model did not answer /health")


def test_a_guard_version_from_registration_to_a_served_log_line(
    tmp_path: Path, tiny_model: Path
) -> None:
    cli = _shell(tmp_path)
    assert cli("boss", "init", "--admin", "boss").exit_code == 0
    for user, role in (("eng", "submitter"), ("val", "validator")):
        assert cli("boss", "tokens", "create", "--user", user, "--role", role).exit_code == 0
    model = _ok(cli("eng", "models", "register", "tiny", str(tiny_model), "--json"))["ref"]
    _approved(cli, model)
    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT, encoding="utf-8")
    guard = _ok(cli("eng", "guards", "register", "retail", str(strict), "--json"))
    ref = guard["ref"]

    probe = ["stage", "evaluation", "guard-probe", "-i", f"guard={ref}", "-i", f"model={model}"]
    probe += [arg for param in PROBE_PARAMS for arg in ("-p", param)]
    assert cli("eng", *probe).exit_code == 0
    [evidence] = _ok(cli("val", "evidence", "list", ref, "--kind", "guard_probe", "--json"))
    assert evidence["paired"] == model
    assert evidence["metrics"]["benign_probes"] > 0
    assert 0.0 <= evidence["metrics"]["over_refusal_rate"] <= 1.0
    # A reference without its type is read as a model's; the error says which type holds it.
    untyped = cli("eng", "promote", "retail@1", "--to", "production")
    assert untyped.exit_code == ExitCode.NOT_FOUND
    assert "model 'retail' does not exist (but guard:retail does: write the type prefix)" in (
        untyped.stderr
    )
    _approved(cli, ref)

    bundle = tmp_path / "bundle"
    create = ["bundle", "create", model, "--stage", "production", "--out", str(bundle)]
    assert cli("eng", *create, "--guard", "retail@1").exit_code == 0
    log = tmp_path / "inference.jsonl"
    server, url = _serve(cli.env, bundle, strict, log)  # type: ignore[attr-defined]
    try:
        pin = httpx.get(f"{url}/version", timeout=30).json()["guard"]
        assert pin == {"ref": ref, "name": "strict-retail", "digest": guard["digest"]}
        body = {"prompt": "Where is my card jane.roe@example.com?", "max_new_tokens": 2}
        assert httpx.post(f"{url}/v1/generate", json=body, timeout=120).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
    [line] = [json.loads(row) for row in log.read_text(encoding="utf-8").splitlines()]
    assert (line["guard_ref"], line["guard_digest"]) == (ref, guard["digest"])
    assert "jane.roe@example.com" not in line["prompt"]  # the pinned guard redacted it

    # Letting more through is a new version of the same guard, unapproved until probed.
    looser = tmp_path / "looser.yaml"
    looser.write_text(LOOSER, encoding="utf-8")
    new = _ok(cli("eng", "guards", "register", "retail", str(looser), "--json"))
    assert (new["ref"], new["stage"]) == ("guard:retail@2", None)
    assert new["digest"] != guard["digest"]
    refused = cli("eng", *create[:-1], str(tmp_path / "loose-bundle"), "--guard", "retail@2")
    assert refused.exit_code == ExitCode.POLICY_REFUSED
    assert "guard version guard:retail@2 is not approved for production" in refused.stderr
