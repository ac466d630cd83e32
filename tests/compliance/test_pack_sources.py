"""Packs from the policy folder and from plugins (register_compliance_packs), and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.compliance import find_pack, installed_packs, load_pack, render_pack_report
from lmops_core.errors import NotFoundError, PluginError, PolicyError
from lmops_core.plugins import load_plugins
from lmops_core.workspace import Workspace
from tests.compliance.conftest import CN_PACK, PASSING, model_with
from tests.compliance.test_pack_lint import PACK
from tests.conftest import make_settings

PLUGIN = """\
from pathlib import Path

from lmops_core import hookimpl


@hookimpl
def register_compliance_packs(register):
    register(Path(__file__).with_name("{file}"))
"""


def _folder(tmp_path: Path) -> Path:
    """A policy folder whose packs/ holds the shipped Chinese pack."""
    packs = tmp_path / "policies" / "packs"
    packs.mkdir(parents=True)
    shutil.copy(CN_PACK, packs / CN_PACK.name)
    return tmp_path / "policies"


def _plugin(tmp_path: Path, pack_text: str | None, file: str = "tiny.yaml") -> str:
    if pack_text is not None:
        (tmp_path / file).write_text(pack_text, encoding="utf-8")
    path = tmp_path / "pack_plugin.py"
    path.write_text(PLUGIN.format(file=file), encoding="utf-8")
    return str(path)


def test_register_compliance_packs_adds_a_plugins_pack_beside_the_folders(
    tmp_path: Path,
) -> None:
    host = load_plugins(make_settings(tmp_path / "home", plugins=[_plugin(tmp_path, PACK)]))
    packs = installed_packs(_folder(tmp_path), host)
    assert list(packs) == ["cn-tc260-003", "tiny"]
    assert find_pack(tmp_path / "no-policies", host, "tiny").id == "tiny"


def test_a_plugin_registering_no_file_is_named(tmp_path: Path) -> None:
    host = load_plugins(make_settings(tmp_path / "home", plugins=[_plugin(tmp_path, None)]))
    with pytest.raises(PluginError, match='plugin "pack_plugin" registered .*tiny.yaml'):
        installed_packs(tmp_path, host)


def test_two_packs_with_one_id_name_both_files(tmp_path: Path) -> None:
    same = CN_PACK.read_text(encoding="utf-8")
    host = load_plugins(make_settings(tmp_path / "home", plugins=[_plugin(tmp_path, same)]))
    with pytest.raises(PolicyError, match="two compliance packs are named 'cn-tc260-003'") as e:
        installed_packs(_folder(tmp_path), host)
    assert str(tmp_path / "tiny.yaml") in e.value.message
    with pytest.raises(NotFoundError, match="no compliance pack named 'nope'"):
        find_pack(tmp_path, load_plugins(make_settings(tmp_path / "h2")), "nope")


@pytest.fixture
def cli_env(
    tmp_path: Path, sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Workspace, str]:
    folder = _folder(tmp_path)
    plugin = _plugin(tmp_path, PACK)
    for key, value in {
        "LMOPS_HOME": str(sqlite_home),
        "LMOPS_POLICIES_DIR": str(folder),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_PLUGINS": plugin,
    }.items():
        monkeypatch.setenv(key, value)
    ws = Workspace.open(make_settings(sqlite_home, policies_dir=folder, plugins=[plugin]))
    return ws, model_with(ws, tmp_path, PASSING, 1)


def test_cli_lists_packs_and_writes_the_pack_report(
    cli_env: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, ref = cli_env
    listed = CliRunner().invoke(app, ["packs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["language"], r["clauses"]) for r in rows] == [
        ("cn-tc260-003", "zh-CN", 5),
        ("tiny", "en", 1),
    ]
    assert rows[0]["offered_by"] == "policies" and rows[1]["offered_by"] == "pack_plugin"
    out = tmp_path / "out"
    digests = set()
    for _ in range(2):
        result = CliRunner().invoke(
            app, ["report", ref, "--pack", "cn-tc260-003", "--out", str(out), "--json"]
        )
        assert result.exit_code == 0, result.output
        digests.add(json.loads(result.stdout)["digest"])
    expected = render_pack_report(ws, load_pack(CN_PACK), ref)
    assert digests == {expected.digest}
    written = out / "compliance-cn-tc260-003-chat-1.md"
    assert written.read_text(encoding="utf-8") == expected.markdown
    assert (out / "compliance-cn-tc260-003-chat-1.html").is_file()
    ws.close()


def test_cli_pack_lint_exits_2_naming_the_clause(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PACK + '  - id: "1.2"\n    title: Nothing shows this\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["packs", "lint", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:18: error: clause '1.2' is mapped to no rule" in result.output
    clean = CliRunner().invoke(app, ["packs", "lint", str(CN_PACK)])
    assert clean.exit_code == 0, clean.output


def test_packs_list_shows_the_shipped_packs_and_a_plugins_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = _plugin(tmp_path, PACK)
    for key, value in {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_POLICIES_DIR": str(CN_PACK.parents[1]),  # the repository's policies/
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_PLUGINS": plugin,
    }.items():
        monkeypatch.setenv(key, value)
    listed = CliRunner().invoke(app, ["packs", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {
        r["id"]: (r["language"], r["clauses"], r["offered_by"]) for r in json.loads(listed.stdout)
    }
    assert rows == {
        "cn-tc260-003": ("zh-CN", 5, "policies"),
        "eu-ai-act": ("en", 7, "policies"),
        "sr-11-7": ("en", 7, "policies"),
        "tiny": ("en", 1, "pack_plugin"),
    }
