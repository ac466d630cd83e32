"""Parquet windows: the same evidence as JSONL, sampled alike, errors naming file, row, field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lmops_evidently.frames import build_feature_frames
from lmops_evidently.monitor import DriftMonitor
from lmops_evidently.params import parse_params
from lmops_evidently.parquet import sorted_categorical

from lmops_core.errors import ValidationError

MakeContext = Any
# No PII descriptor: loading presidio's NER costs seconds and is not what is tested here.
DESCRIPTORS = {"descriptors": ["length", "words", "oov_rate", "lang", "refusal"]}


def write_parquet(path: Path, records: list[dict[str, Any]], row_group_size: int = 333) -> Path:
    """Records as one Parquet file; small row groups so batches and chunks never line up."""
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory, logs: Any, jsonl: Any) -> dict[str, Path]:
    """The same reference and shifted current records, once as JSONL and once as Parquet."""
    folder = tmp_path_factory.mktemp("parquet-windows")
    reference, current = logs(1200, seed=1), logs(900, seed=3, shifted=True)
    # A few missing values, so nulls travel through Arrow as they do through JSON.
    for index in (5, 77, 500):
        reference[index]["latency_ms"] = None
        reference[index]["route"] = None
        current[index]["response"] = None
    return {
        "reference.jsonl": jsonl(folder / "reference.jsonl", reference),
        "current.jsonl": jsonl(folder / "current.jsonl", current),
        "reference.parquet": write_parquet(folder / "reference.parquet", reference),
        "current.parquet": write_parquet(folder / "current.parquet", current),
    }


def _frames_equal(left: Any, right: Any) -> None:
    for name in ("reference", "current"):
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name))


@pytest.mark.parametrize("reference_format", ["parquet", "jsonl"])
def test_parquet_window_gives_the_same_evidence_as_jsonl(
    windows: dict[str, Path], make_context: MakeContext, reference_format: str
):
    params = {"chunk_size": 500, **DESCRIPTORS}
    from_jsonl = DriftMonitor().run(
        make_context(windows["reference.jsonl"], windows["current.jsonl"], params)
    )
    from_parquet = DriftMonitor().run(
        make_context(windows[f"reference.{reference_format}"], windows["current.parquet"], params)
    )
    [expected], [got] = from_jsonl.evidence, from_parquet.evidence
    # Text descriptors, numbers and categories are all there, and all drifted here.
    assert got.details["text_fields"] == ["prompt", "response"]
    assert got.details["numeric_fields"] == ["latency_ms", "tokens"]
    assert got.details["categorical_fields"] == ["route"]
    assert "request_id" in got.details["ignored_fields"]
    for column in ("prompt.length", "prompt.lang", "response.refusal", "latency_ms", "route"):
        assert got.metrics[f"column.{column}.drifted"] is True, column
    assert got.metrics == expected.metrics
    assert got.details == expected.details


def test_parquet_frames_equal_jsonl_frames_when_sampled(windows: dict[str, Path]):
    params = parse_params({"sample_rows": 300, "chunk_size": 64, **DESCRIPTORS})
    jsonl = build_feature_frames(
        windows["reference.jsonl"], windows["current.jsonl"], params, seed=9
    )
    parquet = build_feature_frames(
        windows["reference.parquet"], windows["current.parquet"], params, seed=9
    )
    assert parquet.sampled and parquet.rows_reference == 1200 and parquet.rows_current == 900
    assert len(parquet.reference) == len(parquet.current) == 300
    _frames_equal(jsonl, parquet)
    other = build_feature_frames(
        windows["reference.parquet"], windows["current.parquet"], params, seed=10
    )
    assert not other.current["prompt.length"].equals(parquet.current["prompt.length"])


def test_sampling_a_parquet_window_is_reported(windows: dict[str, Path], make_context: MakeContext):
    params = {"sample_rows": 400, "seed": 11, "chunk_size": 64, **DESCRIPTORS}
    context = make_context(windows["reference.parquet"], windows["current.parquet"], params)
    metrics = DriftMonitor().run(context).evidence[0].metrics
    assert metrics["sampled"] is True and metrics["sample_rows"] == 400
    assert metrics["rows_reference"] == 1200 and metrics["rows_reference_analyzed"] == 400
    assert metrics["rows_current"] == 900 and metrics["rows_current_analyzed"] == 400
    assert metrics["dataset_drift"] is True


@pytest.mark.parametrize(
    ("field", "values", "problem"),
    [
        ("latency_ms", "slow", r"must be a number \(as in the reference\), got str"),
        ("prompt", 42, "must be a string, got int"),
        ("route", ["chat"], r"must be a scalar \(it is a category in the reference\)"),
    ],
)
def test_wrong_typed_parquet_column_names_file_row_and_field(
    windows: dict[str, Path],
    make_context: MakeContext,
    tmp_path: Path,
    logs: Any,
    field: str,
    values: Any,
    problem: str,
):
    records = logs(40, seed=4)
    # Missing up to row 26: the first wrong value sits in the sixth chunk of five rows.
    for index, record in enumerate(records):
        record[field] = None if index < 26 else values
    current = write_parquet(tmp_path / "bad.parquet", records, row_group_size=7)
    context = make_context(windows["reference.jsonl"], current, {"chunk_size": 5, **DESCRIPTORS})
    with pytest.raises(
        ValidationError, match=rf'bad\.parquet, row 27: field "{field}" {problem}'
    ) as caught:
        DriftMonitor().run(context)
    assert caught.value.details == {"file": str(current), "row": 27, "field": field}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("window.csv", b"prompt,latency_ms\nhi,3\n", "neither a JSONL window .* nor a Parquet"),
        ("window.jsonl", b"\x1f\x8b\x08\x00gzip", "neither a JSONL window .* nor a Parquet"),
        ("window.parquet", b'{"prompt": "hi"}\n', "not a Parquet file"),
        ("window.bin", b"PAR1 truncated", "not a readable Parquet file"),
    ],
)
def test_file_neither_jsonl_nor_parquet_is_refused(
    windows: dict[str, Path],
    make_context: MakeContext,
    tmp_path: Path,
    name: str,
    content: bytes,
    message: str,
):
    current = tmp_path / name
    current.write_bytes(content)
    with pytest.raises(ValidationError, match=rf"{name}: {message}") as caught:
        DriftMonitor().run(make_context(windows["reference.jsonl"], current, DESCRIPTORS))
    assert caught.value.details["file"] == str(current)


def test_feature_frames_in_parquet_are_compared_column_for_column(
    make_context: MakeContext, tmp_path: Path
):
    """Precomputed features (pandas Categoricals included) with ``text_fields: []``."""
    rng = np.random.default_rng(0)

    def frame(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "prompt.length": rng.normal(50 + 30 * shift, 5, n),
                "tokens": rng.integers(10, 100, n),
                "prompt.lang": pd.Categorical(rng.choice(["latin", "cjk"], n, p=[0.9, 0.1])),
                "route": pd.Categorical(
                    rng.choice(["chat", "code"], n, p=[0.5 + 0.4 * shift, 0.5 - 0.4 * shift])
                ),
            }
        )

    reference, current = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    frame(2000, 0.0).to_parquet(reference)
    frame(2000, 1.0).to_parquet(current)
    context = make_context(reference, current, {"text_fields": [], "chunk_size": 300})
    [evidence] = DriftMonitor().run(context).evidence
    assert evidence.details["numeric_fields"] == ["prompt.length", "tokens"]
    assert evidence.details["categorical_fields"] == ["prompt.lang", "route"]
    assert evidence.details["text_fields"] == [] and evidence.details["descriptors"] == []
    # No text: the PII guard is not even loaded.
    assert evidence.details["pii"] == "not measured: no text field"
    metrics = evidence.metrics
    assert metrics["columns"] == 4 and metrics["rows_current_analyzed"] == 2000
    assert metrics["column.route.method"] == "Jensen-Shannon distance"
    assert metrics["column.prompt.length.drifted"] is True
    assert metrics["column.route.drifted"] is True
    assert metrics["column.prompt.lang.drifted"] is False
    assert metrics["column.tokens.drifted"] is False


def test_dialogue_in_parquet_is_measured_as_in_jsonl(tmp_path: Path, jsonl: Any):
    def dialogue(user: str, assistant: str | None) -> dict[str, Any]:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": user}]
        if assistant is not None:
            messages.append({"role": "assistant", "content": assistant})
        return {"messages": messages, "route": "chat"}

    records = [dialogue("hi there", "hello"), dialogue("你好", None), {"route": "code"}]
    params = parse_params({"descriptors": ["words", "lang"]})
    from_jsonl = build_feature_frames(
        jsonl(tmp_path / "r.jsonl", records), jsonl(tmp_path / "c.jsonl", records), params
    )
    from_parquet = build_feature_frames(
        write_parquet(tmp_path / "r.parquet", records),
        write_parquet(tmp_path / "c.parquet", records),
        params,
    )
    assert from_parquet.schema.dialogue
    assert list(from_parquet.current["messages.turns"].fillna(-1)) == [3, 2, -1]
    _frames_equal(from_jsonl, from_parquet)


@pytest.mark.parametrize("seed", range(5))
def test_sorted_categorical_is_what_pandas_gives_on_the_labels(seed: int):
    """Codes into a label list (-1 and None labels missing, some labels unused) give the
    Categorical ``pd.Categorical`` makes of the labels themselves: same values, same sorted
    categories of the used labels only, same code and category types."""
    rng = np.random.default_rng(seed)
    labels = ["ok", None, "error", "timeout", "missing", "Zulu", "应答"]
    for size in (0, 1, 7, 500):
        codes = rng.integers(-1, len(labels) - seed % 3, size)
        expected = pd.Categorical([None if c < 0 else labels[c] for c in codes])
        got = sorted_categorical(codes, labels)
        assert got.equals(expected)
        assert list(got.categories) == list(expected.categories)
        assert got.categories.dtype == expected.categories.dtype
        assert got.codes.dtype == expected.codes.dtype
