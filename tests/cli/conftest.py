"""A shell for CLI tests: ``lmops`` invoked in-process as a script would (stdout not a tty)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lmops_core.cli import app
from lmops_core.settings import get_settings
from lmops_core.testing.helpers import copy_migrated_store
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings, token_for
from tests.governance.conftest import POLICY


@dataclass
class Shell:
    """Runs ``lmops ARGS`` with a fresh environment per call, as a new process would have."""

    home: Path
    env: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, who: str = "cli-user") -> Result:
        get_settings.cache_clear()  # each real call is a new process with fresh settings
        creds = {"LMOPS_TOKEN": self.tokens[who]} if who in self.tokens else {"LMOPS_ACTOR": who}
        return CliRunner().invoke(app, list(args), env={**self.env, **creds})

    def ok(self, *args: str, who: str = "cli-user") -> Result:
        result = self(*args, who=who)
        assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
        return result

    def json(self, *args: str, who: str = "cli-user") -> Any:
        """The command's stdout parsed as one JSON document (stderr is not part of it)."""
        return json.loads(self.ok(*args, "--json", who=who).stdout)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    """A shell on a store under ``tmp_path/home`` that does not exist yet."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.yaml").write_text(POLICY)
    env = {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_POLICIES_DIR": str(policies),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
    }
    yield Shell(home=tmp_path / "home", env=env)
    get_settings.cache_clear()


@pytest.fixture
def governed(shell: Shell, tmp_path: Path) -> Shell:
    """The shell's store with users eng (submitter), val (validator), risk (risk_officer),
    boss (admin), each with a token, and ``model:chat@1`` carrying an eval record (acc 0.9)."""
    copy_migrated_store(shell.home)  # migrated once per process, see tests/conftest.py
    settings = make_settings(
        shell.home, policies_dir=Path(shell.env["LMOPS_POLICIES_DIR"]), actor="eng"
    )
    with Workspace.open(settings) as ws:
        for user, role in (
            ("eng", "submitter"),
            ("val", "validator"),
            ("risk", "risk_officer"),
            ("boss", "admin"),
        ):
            shell.tokens[user] = token_for(ws, user, role)
        version = ws.with_token(shell.tokens["eng"]).register_model(
            "chat", make_model_folder(tmp_path / "m")
        )
        ws.with_token(shell.tokens["val"]).attach_evidence(
            version.ref, kind="eval", digest=version.digest, metrics={"acc": 0.9, "n": 40}
        )
    return shell
