"""``lmops keys`` and ``lmops bundle`` through typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lmops_core.cli import deploy_cmds
from tests.conftest import make_model_folder
from tests.deploy.helpers import governed_workspace, register_and_promote


def test_keys_and_bundle_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = governed_workspace(tmp_path)
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m"))
    ws.close()
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LMOPS_POLICIES_DIR", str(tmp_path / "policies"))
    monkeypatch.setenv("LMOPS_LOAD_ENTRY_POINTS", "false")
    monkeypatch.setenv("LMOPS_ACTOR", "deployer")
    app = typer.Typer()
    deploy_cmds.register(app)
    run = CliRunner().invoke

    # The server key already exists: it attested the risk officer's token-authenticated decision.
    created = run(app, ["keys", "create"])
    assert created.exit_code != 0 and "already has an active key" in str(created.exception)
    private = next((tmp_path / "home" / "keys" / "bundle-signing").glob("*.key")).read_text()
    assert "PRIVATE KEY" in private
    exported = run(app, ["keys", "export-public"])
    assert "BEGIN PUBLIC KEY" in exported.output and "PRIVATE" not in exported.output
    (tmp_path / "pub.pem").write_text(exported.output)

    made = run(
        app,
        ["bundle", "create", ref, "--stage", "production", "--out", str(tmp_path / "b"), "--tar"],
    )
    assert made.exit_code == 0, made.output
    ok = run(
        app,
        [
            "bundle",
            "verify",
            str(tmp_path / "b.tar"),
            "--public-key",
            str(tmp_path / "pub.pem"),
            "--json",
        ],
    )
    assert ok.exit_code == 0 and '"ok": true' in ok.output
    assert '"actor": "val"' in ok.output and '"auth_method": "personal-key"' in ok.output
    assert '"actor": "risk"' in ok.output and '"auth_method": "token"' in ok.output
    shown = run(
        app,
        ["bundle", "verify", str(tmp_path / "b.tar"), "--public-key", str(tmp_path / "pub.pem")],
    )
    assert "approve by val as validator" in shown.output and "personal key of val" in shown.output

    assert run(app, ["keys", "rotate", "--server"]).exit_code == 0
    listing = run(app, ["keys", "list"])
    assert "retired" in listing.output and private not in listing.output
    again = run(app, ["bundle", "verify", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    (tmp_path / "b" / "files" / "config.json").write_text('{"model_type": "evil"}')
    bad = run(app, ["bundle", "verify", str(tmp_path / "b")])
    assert bad.exit_code != 0 and "config.json" in str(bad.exception)
