"""Hostile dataset files: each is refused with ``file:line: reason`` and nothing is kept.

Every case goes through the SDK on both metadata backends and through the CLI; after
the refusal no version, no audit event, no blob and no temporary file may remain.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lmops_core.cli.exit_codes import ExitCode
from lmops_core.datasets.ingest import ingest_file
from lmops_core.errors import NotFoundError, ValidationError
from lmops_core.workspace import Workspace
from tests.conftest import make_settings

GOOD = '{"text": "fine"}\n'


def _jsonl(body: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "d.jsonl"
        path.write_bytes((GOOD + body).encode("utf-8", "surrogatepass"))
        return path

    return write


def _parquet(folder: Path, **columns: list[object]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "d.parquet"
    pq.write_table(pa.table({"text": ["a"] * len(next(iter(columns.values()))), **columns}), path)
    return path


def _truncated_parquet(folder: Path) -> Path:
    path = _parquet(folder, n=list(range(5000)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _parquet_bytes_column(folder: Path) -> Path:
    return _parquet(folder, blob=[b"\x00\x01"])


def _parquet_nan(folder: Path) -> Path:
    return _parquet(folder, score=[float("nan")])


CASES: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "lone surrogate",
        _jsonl('{"text": "a\\ud800b"}\n'),
        r"^d\.jsonl:2: text: lone UTF-16 surrogate \\ud800 is not a character$",
    ),
    (
        "lone low surrogate in a key",
        _jsonl('{"text": "a", "\\udc00": 1}\n'),
        r"^d\.jsonl:2: <record>: lone UTF-16 surrogate \\udc00",
    ),
    (
        "100,000 levels of nesting",
        _jsonl('{"text": "x", "n": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
        r"^d\.jsonl:2: JSON nested too deeply \(at most 64 levels\)$",
    ),
    (
        "nesting below the recursion limit",
        _jsonl('{"text": "x", "n": ' + "[" * 500 + "]" * 500 + "}\n"),
        r"^d\.jsonl:2: JSON nested too deeply",
    ),
    (
        "5,000-digit integer",
        _jsonl('{"text": "x", "n": ' + "7" * 5000 + "}\n"),
        r"^d\.jsonl:2: integer of 5000 digits \(at most 40 allowed\)$",
    ),
    ("NaN", _jsonl('{"text": "x", "score": NaN}\n'), r"^d\.jsonl:2: NaN is not a JSON number"),
    (
        "-Infinity",
        _jsonl('{"text": "x", "score": -Infinity}\n'),
        r"^d\.jsonl:2: -Infinity is not a JSON number",
    ),
    (
        "overflowing float",
        _jsonl('{"text": "x", "score": 1e400}\n'),
        r"^d\.jsonl:2: number 1e400 is out of range",
    ),
    (
        "duplicate key",
        _jsonl('{"text": "x", "text": "y"}\n'),
        r"^d\.jsonl:2: duplicate key 'text' in a JSON object$",
    ),
    (
        "duplicate nested key",
        _jsonl('{"text": "x", "meta": {"a": 1, "a": 2}}\n'),
        r"^d\.jsonl:2: duplicate key 'a'",
    ),
    (
        "UTF-16 text",
        lambda folder: _write(folder, GOOD.encode() + '{"text": "x"}\n'.encode("utf-16-le")),
        r"^d\.jsonl:2: ",
    ),
    (
        "invalid UTF-8",
        lambda folder: _write(folder, GOOD.encode() + b'{"text": "\xff"}\n'),
        r"^d\.jsonl:2: not UTF-8 text",
    ),
    ("truncated Parquet", _truncated_parquet, r"^d\.parquet: not a readable Parquet file"),
    (
        "Parquet bytes column",
        _parquet_bytes_column,
        r"^d\.parquet:row 1: blob: a bytes value cannot be stored as JSON",
    ),
    ("Parquet NaN", _parquet_nan, r"^d\.parquet:row 1: score: nan is not a JSON number"),
]


def _write(folder: Path, data: bytes) -> Path:
    path = folder / "d.jsonl"
    path.write_bytes(data)
    return path


def _store_files(ws: Workspace) -> tuple[list[str], list[Path], list[Path]]:
    root = Path(ws.artifacts.uri.removeprefix("local://"))
    return (
        sorted(ws.artifacts.backend.iter_digests()),
        sorted((root / "tmp").iterdir()),
        sorted((ws.settings.home / "tmp").iterdir()) if (ws.settings.home / "tmp").is_dir() else [],
    )


@pytest.mark.parametrize(("case", "make", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_sdk_refuses_with_file_line_reason(
    ws: Workspace, tmp_path: Path, case: str, make: Callable[[Path], Path], pattern: str
) -> None:
    source = make(tmp_path)
    events = len(ws.audit_events())
    before = _store_files(ws)
    with pytest.raises(ValidationError, match=pattern):
        ws.register_dataset("hostile", source, shape="text")
    with pytest.raises(NotFoundError):
        ws.get("dataset:hostile")
    assert len(ws.audit_events()) == events
    assert _store_files(ws) == before == ([], [], [])


CLI_CASES = [
    c
    for c in CASES
    if c[0]
    in (
        "lone surrogate",
        "100,000 levels of nesting",
        "5,000-digit integer",
        "NaN",
        "duplicate key",
        "truncated Parquet",
    )
]


@pytest.mark.parametrize(("case", "make", "pattern"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_with_one_line(
    tmp_path: Path, sqlite_home: Path, case: str, make: Callable[[Path], Path], pattern: str
) -> None:
    source = make(tmp_path)
    env = {
        **os.environ,
        "LMOPS_HOME": str(sqlite_home),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_ACTOR": "cli-user",
        "COLUMNS": "300",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lmops_core.cli import main; main()",
            "datasets",
            "register",
            "hostile",
            str(source),
            "--shape",
            "text",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == ExitCode.INVALID_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(pattern, lines[0].removeprefix("Error: ")), lines[0]
    ws = Workspace.open(make_settings(sqlite_home))
    try:
        assert _store_files(ws) == ([], [], [])
        with pytest.raises(NotFoundError):
            ws.get("dataset:hostile")
    finally:
        ws.close()


def test_drop_invalid_skips_hostile_records_and_keeps_good_ones(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    body = (
        '{"text": "x", "score": NaN}\n{"text": "a", "text": "b"}\n'
        '{"text": "' + "z" * 3000 + '"}\n{"text": "last"}\n'
    )
    path = _jsonl(body)(tmp_path)
    settings = sqlite_ws.settings.model_copy(update={"max_record_bytes": 2048})
    ws = Workspace.open(settings)
    try:
        v = ws.register_dataset("mixed", path, shape="text", drop_invalid=True)
        assert v.record_count == 2  # type: ignore[attr-defined]
        dropped = ws.evidence(v.ref, kind="ingestion")[0].details["dropped_examples"]
        assert dropped == [
            "d.jsonl:2: NaN is not a JSON number (use null or a finite number)",
            "d.jsonl:3: duplicate key 'text' in a JSON object",
            "d.jsonl:4: record is larger than 2048 bytes (raise LMOPS_MAX_RECORD_BYTES to "
            "accept larger records)",
        ]
    finally:
        ws.close()


def test_record_cap_names_line_and_setting(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(GOOD + '{"text": "' + "y" * 5000 + '"}\n' + GOOD)
    with pytest.raises(ValidationError) as info:
        ingest_file(path, shape="text", tmp_dir=tmp_path, max_record_bytes=4096)
    assert str(info.value) == (
        "d.jsonl:2: record is larger than 4096 bytes (raise "
        "LMOPS_MAX_RECORD_BYTES to accept larger records)"
    )
    assert not list(tmp_path.glob("dataset-*"))


@pytest.mark.parametrize("extra", [0, 1])
def test_record_exactly_at_the_cap_is_accepted(tmp_path: Path, extra: int) -> None:
    record = '{"text": "' + "w" * 100 + '"}'
    path = tmp_path / "d.jsonl"
    path.write_text(record + "\n" + record)  # second line without a newline at the end
    limit = len(record) - extra
    if extra:
        with pytest.raises(ValidationError, match=r"d\.jsonl:1: record is larger"):
            ingest_file(path, shape="text", tmp_dir=tmp_path, max_record_bytes=limit)
    else:
        result = ingest_file(path, shape="text", tmp_dir=tmp_path, max_record_bytes=limit)
        assert result.records == 2
        result.path.unlink()


def test_record_cap_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lmops_core.settings import Settings

    monkeypatch.setenv("LMOPS_MAX_RECORD_BYTES", "2048")
    assert Settings(home=tmp_path).max_record_bytes == 2048
    assert Settings(home=tmp_path / "x", _env_file=None).max_record_bytes == 2048
    monkeypatch.delenv("LMOPS_MAX_RECORD_BYTES")
    assert Settings(home=tmp_path).max_record_bytes == 16 * 1024 * 1024


def test_canonical_bytes_unchanged_for_plain_records(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"b": 1, "text": "é", "a": [1.5, null, true]}\n')
    result = ingest_file(path, shape="text", tmp_dir=tmp_path)
    assert result.path.read_bytes() == '{"a":[1.5,null,true],"b":1,"text":"é"}\n'.encode()
    result.path.unlink()
