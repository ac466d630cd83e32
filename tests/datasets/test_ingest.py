"""Dataset registration: shapes, precise errors, nothing written on failure, Parquet."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from lmops_core.datasets.ingest import ingest_file
from lmops_core.errors import NotFoundError, ValidationError
from lmops_core.workspace import Workspace
from tests.conftest import write_jsonl

GOOD = {
    "instruction": [
        {"prompt": "p", "response": "r", "system": "s"},
        {"prompt": "p2", "response": "r2"},
    ],
    "dialogue": [
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
            ]
        }
    ],
    "text": [{"text": "plain text"}, {"text": "更多文字"}],
    "preference": [{"prompt": "p", "chosen": "good", "rejected": "bad"}],
}


@pytest.mark.parametrize("shape", sorted(GOOD))
def test_each_shape_registers_with_a_card(sqlite_ws: Workspace, tmp_path: Path, shape: str) -> None:
    v = sqlite_ws.register_dataset(
        shape, write_jsonl(tmp_path / "d.jsonl", GOOD[shape]), shape=shape
    )
    assert v.shape == shape and v.record_count == len(GOOD[shape])  # type: ignore[attr-defined]
    card = sqlite_ws.evidence(v.ref, kind="dataset_card")[0]
    assert card.metrics["records"] == len(GOOD[shape])
    assert card.metrics["content_digest"] == v.digest
    assert card.subject_digest == v.digest


@pytest.mark.parametrize(
    ("shape", "rows", "message"),
    [
        (
            "dialogue",
            [
                GOOD["dialogue"][0],
                {"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]},
            ],
            "d.jsonl:2: messages[1].role: expected one of system/user/assistant, got 'bot'",
        ),
        ("instruction", [{"prompt": "p"}], "d.jsonl:1: response: missing required field"),
        (
            "instruction",
            [{"prompt": "p", "response": 3}],
            "d.jsonl:1: response: expected a string, got int",
        ),
        ("text", [{"text": ""}], "d.jsonl:1: text: must not be empty"),
        (
            "preference",
            [["not", "an", "object"]],
            "d.jsonl:1: <record>: expected a JSON object, got list",
        ),
    ],
)
def test_bad_record_names_file_line_field_and_writes_nothing(
    sqlite_ws: Workspace, tmp_path: Path, shape: str, rows: list[object], message: str
) -> None:
    events = len(sqlite_ws.audit_events())
    with pytest.raises(ValidationError) as info:
        sqlite_ws.register_dataset("bad", write_jsonl(tmp_path / "d.jsonl", rows), shape=shape)
    assert str(info.value) == message
    with pytest.raises(NotFoundError):
        sqlite_ws.get("dataset:bad")
    assert len(sqlite_ws.audit_events()) == events
    assert list((sqlite_ws.settings.home / "tmp").iterdir()) == []


def test_invalid_json_line_is_located(sqlite_ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": "unterminated\n')
    with pytest.raises(ValidationError, match=r"broken.jsonl:3: invalid JSON"):
        sqlite_ws.register_dataset("b", path, shape="text")


def test_drop_invalid_counts_as_evidence(sqlite_ws: Workspace, tmp_path: Path) -> None:
    rows = [{"text": "good"}, {"txt": "bad"}, {"text": "also good"}]
    v = sqlite_ws.register_dataset(
        "d", write_jsonl(tmp_path / "d.jsonl", rows), shape="text", drop_invalid=True
    )
    assert v.record_count == 2  # type: ignore[attr-defined]
    ing = sqlite_ws.evidence(v.ref, kind="ingestion")[0]
    assert ing.metrics == {"records_read": 3, "records_kept": 2, "records_dropped": 1}
    assert ing.details["dropped_examples"] == ["d.jsonl:2: text: missing required field"]


def test_parquet_is_read_in_batches(sqlite_ws: Workspace, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"prompt": [f"q{i}" for i in range(25_000)], "response": [f"a{i}" for i in range(25_000)]}
    )
    pq.write_table(table, tmp_path / "d.parquet", row_group_size=5000)
    v = sqlite_ws.register_dataset("pq", tmp_path / "d.parquet", shape="instruction")
    assert v.record_count == 25_000  # type: ignore[attr-defined]
    jsonl = write_jsonl(tmp_path / "same.jsonl", table.to_pylist())
    assert sqlite_ws.register_dataset("same", jsonl, shape="instruction").digest == v.digest


def test_large_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    with open(path, "w") as fh:
        for i in range(200_000):
            fh.write(json.dumps({"text": f"record {i} " + "lorem ipsum " * 20}) + "\n")
    size = path.stat().st_size
    tracemalloc.start()
    result = ingest_file(path, shape="text", tmp_dir=tmp_path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.records == 200_000
    # The file is ~50 MB; memory is bounded by the duplicate set, far below the file size.
    assert peak < size / 2, f"peak {peak} bytes for a {size}-byte file"
