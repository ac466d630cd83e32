"""The fixtures of ``lmops_core.testing`` (the pytest plugin every plugin's tests use).

The tiny models are exercised by the plugins' own tests (they need the ML
libraries); here the kit's other fixtures, with the echo plugin of
``tests/plugins/test_third_party_model_kind.py`` as the plugin under test.
"""

from __future__ import annotations

import socket
import sqlite3
import sys
import textwrap
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from lmops_core.contracts import Stage
from lmops_core.errors import PermissionDeniedError, PluginError, ValidationError
from lmops_core.plugins import PluginHost
from lmops_core.settings import Settings
from lmops_core.testing import (
    Governed,
    StageContexts,
    TinyModels,
    dataset_input,
    model_input,
    registered_by,
    write_jsonl,
)
from lmops_core.workspace import Workspace
from tests.conftest import run_command
from tests.plugins import test_third_party_model_kind as echo

ECHO = echo.__name__


def test_as_user_acts_through_a_real_token(make_workspace: Callable[..., Governed]) -> None:
    store = make_workspace(entry_points=False)
    val = store.as_user("val", "validator")
    assert val.actor == "val" and val.identity.method == "token"
    assert "validator" in store.admin.governance.roles_of("val")
    assert store.as_user("val") is val  # one token per user; roles add up
    with pytest.raises(PermissionDeniedError):
        val.governance.grant_role("mallory", "admin")


def test_policies_are_written_for_the_store(make_workspace: Callable[..., Governed]) -> None:
    store = make_workspace(
        entry_points=False,
        policies={"p": "apiVersion: lmops/v1\nkind: Policy\nname: p\nrules: []\n"},
    )
    assert [p.name for p in store.ws.settings.policies_dir.iterdir()] == ["p.yaml"]


def _store_facts(home: Path) -> tuple[list[tuple[str, str]], str, str]:
    """The schema of ``home``'s embedded store, its audit genesis id and its audit key."""
    with closing(sqlite3.connect(home / "lmops.db")) as db:
        schema = sorted(db.execute("SELECT name, sql FROM sqlite_master").fetchall(), key=str)
        (store_id,) = db.execute("SELECT store_id FROM audit_genesis").fetchone()
    return schema, store_id, (home / "keys" / "audit.key").read_text()


def test_stores_from_the_migrated_copy_are_fresh_and_share_nothing(
    make_workspace: Callable[..., Governed], tmp_path: Path
) -> None:
    first, second = make_workspace(entry_points=False), make_workspace(entry_points=False)
    migrated_here = tmp_path / "migrated-here"
    Workspace.open(Settings(home=migrated_here, actor="tester", load_entry_points=False)).close()
    fresh = _store_facts(migrated_here)
    one, two = _store_facts(first.ws.settings.home), _store_facts(second.ws.settings.home)
    assert one[0] == two[0] == fresh[0]  # the schema its own migrations would have made
    assert len({one[1], two[1], fresh[1]}) == 3  # a genesis of its own
    assert len({one[2], two[2], fresh[2]}) == 3  # an audit key of its own
    for store in (first, second):
        assert store.ws.verify_audit().ok


def test_load_plugin_and_registered_by(load_plugin: Callable[..., PluginHost]) -> None:
    host = load_plugin(ECHO)
    assert registered_by(host, ECHO) == {
        "operations": ["evaluation:acme-echo-check"],
        "evidence_kinds": ["acme_echo"],
        "model_runtimes": ["acme-echo"],
    }
    assert registered_by(host, "nobody") == {}


def test_stage_context_checks_params_as_the_runner_does(
    load_plugin: Callable[..., PluginHost], tmp_path: Path
) -> None:
    contexts = StageContexts(tmp_path, load_plugin(ECHO))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("cfg")
    ctx = contexts("acme-echo-check", {"model": model_input(folder, "acme-echo")})
    assert (ctx.stage, ctx.operation, ctx.inputs["model"].role) == (
        Stage.EVALUATION,
        "acme-echo-check",
        "model",
    )
    assert ctx.load_model().generate("ab") == "cfg:ba"  # found in the context's host
    assert contexts(echo.EchoCheck()).workdir != ctx.workdir  # a fresh folder each time
    with pytest.raises(ValidationError, match='unknown parameter "rounds"'):
        contexts("acme-echo-check", params={"rounds": 2})
    unchecked = contexts("acme-echo-check", params={"rounds": 2}, validate=False)
    assert unchecked.params == {"rounds": 2}
    with pytest.raises(PluginError, match='no loaded plugin offers an operation named "nope"'):
        contexts("nope")


def test_inputs_are_renamed_to_their_role(stage_context: StageContexts, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}])
    ctx = stage_context("dedup-exact", {"dataset": dataset_input(data, role="other")})
    assert ctx.inputs["dataset"].role == "dataset"
    assert list(ctx.records("dataset")) == [{"text": "a"}]


def test_tiny_models_name_the_kinds_that_can_be_built(
    load_plugin: Callable[..., PluginHost], tmp_path: Path
) -> None:
    models = TinyModels(tmp_path, load_plugin(ECHO))
    assert models.kinds() == []
    with pytest.raises(
        PluginError, match='"acme-echo" \\(acme\\) cannot build a tiny model; kinds that can: none'
    ):
        models("acme-echo")


def test_no_network_refuses_and_records(no_network: list[object]) -> None:
    with socket.socket() as sock, pytest.raises(OSError, match="network access attempted"):
        sock.connect(("192.0.2.1", 80))
    with pytest.raises(OSError, match="DNS lookup attempted"):
        socket.getaddrinfo("example.com", 443)
    assert no_network == [("192.0.2.1", 80), "example.com"]
    no_network.clear()  # refused as it should be: not a failure of this test


def test_the_kit_loads_once_through_pytest_plugins_and_p(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["lmops_core.testing"]\n')
    (tmp_path / "test_it.py").write_text(
        textwrap.dedent("""
        def test_fixtures_are_there(recording_progress, load_plugin):
            recording_progress.start("x", total=1)
            assert recording_progress.started == [("x", 1)]
    """)
    )
    pytest_args = ["-q", "-p", "lmops_core.testing", "-p", "no:cacheprovider", tmp_path]
    run = run_command([sys.executable, "-m", "pytest", *pytest_args], cwd=tmp_path)
    assert "1 passed" in run.stdout
