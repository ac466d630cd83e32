"""Output for scripts: nothing cut when piped, JSON alone on stdout, no store made by reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmops_core.cli.exit_codes import ExitCode
from tests.cli.conftest import Shell
from tests.conftest import write_jsonl

LONG = "a-model-name-long-enough-that-an-eighty-column-table-would-have-to-cut-it-short"


def test_piped_tables_are_never_cut(governed: Shell, tmp_path: Path) -> None:
    governed.ok("models", "register", LONG, str(tmp_path / "m"))
    listed = governed.ok("models", "list").stdout
    assert LONG in listed and "…" not in listed
    request = json.loads(
        governed.ok("promote", "model:chat@1", "--to", "production", "--json", who="eng").stdout
    )
    requests = governed.ok("requests", "list", who="val").stdout
    assert request["id"] in requests and "model:chat@1" in requests and "…" not in requests
    # The audit log's "after" column is shown whole, not cut to a column width.
    events = governed.json("audit", "log", "--limit", "500")
    longest = max(events, key=lambda e: len(json.dumps(e["after"])))
    assert len(json.dumps(longest["after"])) > 80
    assert json.dumps(longest["after"]) in governed.ok("audit", "log", "--limit", "500").stdout


def test_piped_plugin_table_names_every_plugin_and_operation(shell: Shell) -> None:
    described = shell.json("plugins")
    text = shell.ok("plugins").stdout
    assert "…" not in text
    for plugin in described["plugins"]:
        assert plugin["name"] in text
        for operation in plugin["operations"]:
            assert operation in text


def test_long_lines_are_not_wrapped_when_piped(shell: Shell, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "a", "response": "b"}])
    out = shell.ok("datasets", "register", LONG, str(data), "--shape", "instruction").stdout
    line = next(x for x in out.splitlines() if x.startswith("registered"))
    assert len(line) > 80 and line.endswith(")")


def test_json_is_alone_on_stdout(governed: Shell) -> None:
    result = governed.ok("models", "show", "chat@1", "--json")
    json.loads(result.stdout)  # progress, warnings and errors go to stderr
    failed = governed("models", "show", "nosuch", "--json")
    assert failed.exit_code == ExitCode.NOT_FOUND
    assert failed.stdout == "" and "Error: model 'nosuch' does not exist" in failed.stderr


READS = [
    ("models", "list"),
    ("models", "show", "chat@1"),
    ("models", "search"),
    ("datasets", "list"),
    ("prompts", "list"),
    ("suites", "list"),
    ("runs", "list"),
    ("evidence", "list", "model:chat@1"),
    ("lineage", "model:chat@1"),
    ("audit", "verify"),
    ("audit", "log"),
    ("audit", "checkpoint"),
    ("requests", "list"),
    ("requests", "show", "r1"),
    ("tokens", "list"),
    ("keys", "list"),
    ("policy", "explain", "--version", "chat@1", "--to", "production"),
    ("gc",),
    ("report", "model:chat@1"),
]


@pytest.mark.parametrize("args", READS, ids=[" ".join(a) for a in READS])
def test_read_on_a_missing_store_says_so_and_creates_nothing(
    shell: Shell, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = shell(*args)
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    assert f"no lmops store at {shell.home / 'lmops.db'}" in result.stderr
    assert f"LMOPS_HOME={shell.home / 'demo'}" in result.stderr  # where `lmops demo` writes
    assert "nothing was created" in result.stderr
    assert not shell.home.exists()


def test_the_hint_names_where_the_demo_writes(shell: Shell) -> None:
    from lmops_core.cli import demo

    # The demo's store is LMOPS_HOME/demo: the hint must point exactly there.
    assert 'home = settings.home / "demo"' in Path(demo.__file__).read_text()
    assert f"LMOPS_HOME={shell.home / 'demo'} lmops models list" in shell("models", "list").stderr


def test_writes_still_create_the_store(shell: Shell) -> None:
    assert not shell.home.exists()
    shell.ok("prompts", "create", "hello", "--template", "Hi {name}")
    assert (shell.home / "lmops.db").is_file()
    assert [p["name"] for p in shell.json("prompts", "list")] == ["hello"]


def test_a_terminal_keeps_its_width_and_folds_long_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from lmops_core.cli import common

    out = io.StringIO()
    terminal = common._Console(file=out, force_terminal=True, width=40, color_system=None)
    monkeypatch.setattr(common, "console", terminal)
    request_id = "z" * 100
    common.table("requests", ["id", "to"], [[request_id, "production"]])
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 40  # a nice table on the terminal...
    assert "".join(lines).count("z") == 100 and "…" not in out.getvalue()  # ...folded, not cut
    assert common.clip("x" * 100, 70) == "x" * 69 + "…"  # free text is cut only on a terminal
