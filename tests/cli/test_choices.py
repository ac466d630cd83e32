"""Option values from a closed set are refused when unknown, never answered with nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.cli.exit_codes import ExitCode
from tests.cli.conftest import Shell

UNKNOWN = [
    (("requests", "list", "--status", "foo"), "'pending'"),
    (("stage", "foo", "dedup-exact"), "'data_preparation'"),
    (("runs", "list", "--stage", "foo"), "'training'"),
    (("promote", "model:chat@1", "--to", "heaven"), "'production'"),
    (("policy", "explain", "--version", "chat@1", "--to", "heaven"), "'staging'"),
    (("revoke", "model:chat@1", "--stage", "heaven", "--reason", "x"), "'production'"),
    (("models", "search", "--stage", "heaven"), "'production'"),
    (("models", "search", "--kind", "huge"), "'adapter'"),
    (("models", "register", "m", "MODEL", "--kind", "huge"), "'adapter'"),
    (("models", "register", "m", "MODEL", "--risk-tier", "extreme"), "'high'"),
    (("datasets", "register", "d", "DATA", "--shape", "poem"), "'instruction'"),
    (("users", "grant", "bob", "wizard"), "'validator'"),
    (("tokens", "create", "--user", "bob", "--role", "wizard"), "'validator'"),
    (("requests", "approve", "r1", "--role", "wizard", "--comment", "x"), "'validator'"),
    (("report", "model:chat@1", "--to", "heaven"), "'production'"),
]


@pytest.mark.parametrize(
    ("args", "accepted"), UNKNOWN, ids=[" ".join(a[0][:2]) + " " + a[0][-1] for a in UNKNOWN]
)
def test_unknown_values_are_refused(
    shell: Shell, tmp_path: Path, args: tuple[str, ...], accepted: str
) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "data.jsonl").write_text("{}\n")
    args = tuple(
        {"MODEL": str(tmp_path / "model"), "DATA": str(tmp_path / "data.jsonl")}.get(a, a)
        for a in args
    )
    result = shell(*args)
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert "is not one of" in result.output and accepted in result.output
    assert not shell.home.exists()  # refused before anything ran


def test_status_all_lists_every_request(governed: Shell) -> None:
    request = governed.json("promote", "model:chat@1", "--to", "production", who="eng")
    governed.ok(
        "requests", "reject", request["id"], "--role", "validator", "--comment", "no", who="val"
    )
    assert governed.json("requests", "list")["total"] == 0  # pending by default
    everything = governed.json("requests", "list", "--status", "all")
    assert [r["id"] for r in everything["items"]] == [request["id"]]
    rejected = governed.json("requests", "list", "--status", "rejected")
    assert [r["status"] for r in rejected["items"]] == ["rejected"]
