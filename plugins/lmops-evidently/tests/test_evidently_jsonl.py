"""Counting a JSONL window's records: blank lines, block boundaries, UTF-8 and the longest line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from lmops_evidently import jsonl

from lmops_core.errors import ValidationError

LINES = [b"", b'{"a": 1}', b"  \t", b'{"a": "\xe4\xbd\xa0\xe5\xa5\xbd"}', b"\r", b"", b'  {"a": 2}']


def _non_blank_lines(content: bytes) -> int:
    """The definition: lines as the file iterator gives them, blank ones not counted."""
    return sum(1 for line in content.split(b"\n") if line.strip())


@pytest.mark.parametrize("block", [1, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize("ending", [b"\n", b"", b"\r\n\n"])
def test_records_are_counted_as_non_blank_lines_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, ending: bytes
):
    # Small blocks cut lines, and a two-byte character, at every possible place.
    monkeypatch.setattr(jsonl, "_BLOCK", block)
    content = b"\n".join(LINES * 3) + ending
    path = tmp_path / "window.jsonl"
    path.write_bytes(content)
    assert jsonl.count_rows(path) == _non_blank_lines(content) == 9


@pytest.mark.parametrize("block", [2, 1 << 20])
def test_invalid_utf8_anywhere_names_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
):
    monkeypatch.setattr(jsonl, "_BLOCK", block)
    path = tmp_path / "window.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": 2, "unread": "ok \xe4\xbd"}\n{"a": 3}\n')
    with pytest.raises(
        ValidationError, match=r"window\.jsonl, line 3: not valid JSON \(invalid UTF-8"
    ):
        jsonl.count_rows(path)


def test_a_line_longer_than_a_block_widens_the_arrow_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Arrow refuses a record that does not fit into its block: the block follows the longest
    # line counted, so a long record is still streamed (not parsed again line by line).
    monkeypatch.setattr(jsonl, "_ARROW_BLOCK", 1 << 10)
    lines = [b'{"prompt": "short"}', b'{"prompt": "' + b"long " * 2000 + b'"}', b"", b"{}"]
    path = tmp_path / "window.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    counted = jsonl.count_lines(path)
    assert (counted.records, counted.longest) == (3, len(lines[1]))
    assert jsonl.arrow_block(counted.longest) > len(lines[1]) > 1 << 10
    narrow = jsonl.ArrowLines(path, {"prompt": pa.string()})
    assert sum(batch.num_rows for batch in narrow) < 3 or narrow.failed
    wide = jsonl.ArrowLines(path, {"prompt": pa.string()}, jsonl.arrow_block(counted.longest))
    assert sum(batch.num_rows for batch in wide) == 3 and not wide.failed


def test_arrow_lines_stop_at_invalid_utf8_unless_the_file_was_checked(tmp_path: Path):
    # Arrow's JSON reader copies string bytes unchecked: ArrowLines checks them itself,
    # unless told that count_lines has already checked the whole file.
    path = tmp_path / "window.jsonl"
    path.write_bytes(b'{"prompt": "ok \xe4\xbd"}\n{"prompt": "fine"}\n')
    checking = jsonl.ArrowLines(path, {"prompt": pa.string()})
    assert sum(batch.num_rows for batch in checking) == 0 and checking.failed
    trusting = jsonl.ArrowLines(path, {"prompt": pa.string()}, utf8_checked=True)
    assert sum(batch.num_rows for batch in trusting) == 2 and not trusting.failed
