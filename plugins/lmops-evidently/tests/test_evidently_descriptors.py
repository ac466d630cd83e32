"""Text descriptors on hand-checked examples, and chunking that changes nothing."""

from __future__ import annotations

import gc
import importlib.util
import threading
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from lmops_evidently import jsonl as jsonl_reader
from lmops_evidently.frames import build_feature_frames
from lmops_evidently.params import parse_params
from lmops_evidently.text import is_refusal, script_labels, words
from lmops_evidently.window import WindowBuilder

from lmops_core.errors import PluginError

# PII rows are picked by row ordinal, so chunking must not change them either.
PII = {"pii_rows": 40}


def test_words_count_cjk_characters_one_by_one():
    assert words("Hello, World! café 42") == ["hello", "world", "café", "42"]
    assert words("你好世界") == ["你", "好", "世", "界"]
    assert words("GPU 很快") == ["gpu", "很", "快"]
    assert words("  ...  ") == []


def test_script_labels_pick_the_dominant_script():
    texts = [
        "Hello there",
        "你好世界 hi",
        "Привет мир",
        "مرحبا بالعالم",
        "שלום",
        "",
        "123 !!",
        "😀😀",
    ]
    assert script_labels(texts) == [
        "latin",
        "cjk",
        "cyrillic",
        "arabic",
        "other",
        "none",
        "none",
        "none",
    ]
    assert script_labels([]) == []


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("I'm sorry, but I can't help with that.", True),
        ("I’m sorry, but I can’t help with that.", True),
        ("I cannot assist with this request.", True),
        ("As an AI language model, I cannot browse the web.", True),
        ("I must decline.", True),
        ("抱歉，我无法提供这些信息。", True),
        ("我不能帮助你做这件事。", True),
        ("作为一个人工智能，我不能这样做。", True),
        ("I can help with that! Here is the recipe.", False),
        ("Sorry for the delay, here is your answer.", False),
        ("好的，这是你要的答案。", False),
    ],
)
def test_refusal_phrases_in_english_and_chinese(text: str, refusal: bool):
    assert is_refusal(text) is refusal


def test_descriptor_frames_on_hand_examples(tmp_path: Path, jsonl: Any):
    reference = jsonl(
        tmp_path / "reference.jsonl",
        [
            {"prompt": "a b", "response": "I cannot help with that.", "ms": 10, "tier": "free"},
            {"prompt": "a c", "response": "ok", "ms": 20.5, "tier": "pro"},
            {"prompt": "b d", "response": "你好", "ms": None, "tier": True},
            {"prompt": "x y", "ms": 40, "tier": None},
        ],
    )
    current = jsonl(
        tmp_path / "current.jsonl",
        [
            {"prompt": "a d", "response": "Sure.", "ms": 1, "tier": "free"},
            {"prompt": "a b 世界", "response": "", "ms": 2, "tier": "free"},
        ],
    )
    params = parse_params({"descriptors": ["length", "words", "oov_rate", "lang", "refusal"]})
    frames = build_feature_frames(reference, current, params)
    ref, cur = frames.reference, frames.current
    assert frames.schema.text_fields == ("prompt", "response")
    assert frames.schema.numeric_fields == ("ms",)
    assert frames.schema.categorical_fields == ("tier",)
    assert list(ref["prompt.length"]) == [3, 3, 3, 3]
    assert list(cur["prompt.words"]) == [2, 4]
    # Cross-fitted vocabulary: rows 0, 2 -> {a, b, d}; rows 1, 3 -> {a, c, x, y}.
    # A reference row is scored against the other fold's words.
    assert list(ref["prompt.oov_rate"]) == [0.5, 0.5, 1.0, 1.0]
    # Current row 0 uses fold 0's words, row 1 fold 1's ("b", "世", "界" unknown there).
    assert list(cur["prompt.oov_rate"]) == [0.0, 0.75]
    assert list(ref["response.refusal"][:3]) == [1.0, 0.0, 0.0]
    assert np.isnan(ref["response.refusal"][3])  # no response at all: missing, not 0
    assert np.isnan(ref["response.length"][3]) and cur["response.length"][1] == 0
    assert list(ref["response.lang"].astype(str)) == ["latin", "latin", "cjk", "missing"]
    assert list(cur["response.lang"].astype(str)) == ["latin", "none"]
    assert "prompt.refusal" not in ref  # refusals are measured on model output only
    assert ref["ms"].tolist()[:2] == [10.0, 20.5] and np.isnan(ref["ms"][2])
    assert list(ref["tier"].astype(object)) == ["free", "pro", "true", np.nan]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categories as plain values: chunks may list a column's categories in another order."""
    return frame.astype({c: object for c in frame.select_dtypes("category")})


def test_chunked_and_unchunked_frames_are_equal(tmp_path: Path, jsonl: Any, logs: Any):
    # 600 and 300 rows in chunks of 64: chunk edges fall everywhere, the last one is short.
    reference = jsonl(tmp_path / "reference.jsonl", logs(600, seed=5))
    current = jsonl(tmp_path / "current.jsonl", logs(300, seed=6, shifted=True))
    whole = build_feature_frames(reference, current, parse_params({"chunk_size": 100_000, **PII}))
    chunked = build_feature_frames(reference, current, parse_params({"chunk_size": 64, **PII}))
    for name in ("reference", "current"):
        left, right = getattr(whole, name), getattr(chunked, name)
        # Categories may be listed in another order; their values must match.
        pd.testing.assert_frame_equal(_plain(left), _plain(right))
    assert len(whole.reference) == 600 and len(whole.current) == 300


def test_text_fields_measured_side_by_side_equal_one_after_the_other(
    tmp_path: Path, jsonl: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
):
    # Arrow's CPU count sizes the pool of text-field threads, the thread reading ahead
    # counted: 1 or 2 mean no pool at all, 3 one helper beside the calling thread.
    reference = jsonl(tmp_path / "reference.jsonl", logs(400, seed=5))
    current = jsonl(tmp_path / "current.jsonl", logs(300, seed=6, shifted=True))
    params = parse_params({"chunk_size": 50, **PII})
    threads: dict[str, set[str]] = {}
    describe = WindowBuilder._describe

    def recorded(self: WindowBuilder, name: str, *args: Any) -> Any:
        threads.setdefault(name, set()).add(threading.current_thread().name)
        return describe(self, name, *args)

    monkeypatch.setattr(WindowBuilder, "_describe", recorded)
    frames: dict[int, Any] = {}
    for cpus in (1, 2, 3):
        monkeypatch.setattr(pa, "cpu_count", lambda cpus=cpus: cpus)
        threads.clear()
        frames[cpus] = build_feature_frames(reference, current, params)
        pooled = threads["prompt"] - {threading.current_thread().name}
        assert threads["response"] == {threading.current_thread().name}
        assert bool(pooled) == (cpus == 3), (cpus, threads)
    for name in ("reference", "current"):
        for cpus in (2, 3):
            pd.testing.assert_frame_equal(getattr(frames[1], name), getattr(frames[cpus], name))


def test_garbage_cycles_left_before_are_collected_before_evidently_runs(
    tmp_path: Path, jsonl: Any, logs: Any
):
    """Building the frames ends with Python's full collection, so that a collection left
    pending by earlier work does not fall inside Evidently's run (see frames._collect_garbage)."""

    class Node:
        def __init__(self) -> None:
            self.me = self

    reference = jsonl(tmp_path / "reference.jsonl", logs(200, seed=5))
    current = jsonl(tmp_path / "current.jsonl", logs(200, seed=6, shifted=True))
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection: only the frames' own one can free the cycle
    try:
        cycle = Node()
        alive = weakref.ref(cycle)
        del cycle
        assert alive() is not None
        # No PII descriptor: loading its guard runs collections of its own.
        build_feature_frames(reference, current, parse_params({"descriptors": ["length"]}))
        assert alive() is None
    finally:
        if was_enabled:
            gc.enable()


def test_sampled_frames_depend_only_on_the_seed(tmp_path: Path, jsonl: Any, logs: Any):
    reference = jsonl(tmp_path / "reference.jsonl", logs(500, seed=5))
    current = jsonl(tmp_path / "current.jsonl", logs(500, seed=6))
    params = parse_params({"sample_rows": 50, "chunk_size": 9})
    first = build_feature_frames(reference, current, params, seed=3)
    again = build_feature_frames(reference, current, parse_params({"sample_rows": 50}), seed=3)
    other = build_feature_frames(reference, current, params, seed=4)
    assert first.sampled and len(first.reference) == 50 and first.rows_reference == 500
    pd.testing.assert_frame_equal(_plain(first.current), _plain(again.current))
    assert not first.current["prompt.length"].equals(other.current["prompt.length"])


def test_dialogue_messages_are_measured_per_role(tmp_path: Path, jsonl: Any):
    def dialogue(user: str, assistant: str) -> dict:
        return {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": user},
                {"role": "assistant", "content": assistant},
            ]
        }

    reference = jsonl(tmp_path / "r.jsonl", [dialogue("hi there", "hello"), dialogue("a", "b")])
    current = jsonl(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "你好"}]}])
    frames = build_feature_frames(reference, current, parse_params({"descriptors": ["words"]}))
    assert frames.schema.text_fields == ("messages.system", "messages.user", "messages.assistant")
    assert list(frames.reference["messages.user.words"]) == [2, 1]
    assert list(frames.reference["messages.turns"]) == [3, 3]
    assert list(frames.current["messages.turns"]) == [1]
    assert np.isnan(frames.current["messages.assistant.words"][0])


def test_pii_descriptor_follows_lmops_presidio_availability(tmp_path: Path, jsonl: Any, logs: Any):
    records = logs(20, seed=5)
    records[3]["prompt"] = "please email the invoice to jane.doe@example.com today"
    reference = jsonl(tmp_path / "reference.jsonl", records)
    current = jsonl(tmp_path / "current.jsonl", logs(20, seed=6))
    available = importlib.util.find_spec("lmops_presidio.guard") is not None
    default = build_feature_frames(reference, current, parse_params({}))
    assert ("pii" in default.schema.descriptors) is available
    assert ("prompt.pii" in default.reference) is available
    explicit = parse_params({"descriptors": ["length", "pii"], "pii_rows": 10})
    if available:
        frames = build_feature_frames(reference, current, explicit)
        pii = frames.reference["prompt.pii"]
        assert pii.notna().sum() == 10  # only pii_rows rows are scanned
        every = build_feature_frames(reference, current, parse_params({"descriptors": ["pii"]}))
        assert every.reference["prompt.pii"].tolist()[3] == 1.0
        assert every.reference["prompt.pii"].sum() == 1.0
    else:
        with pytest.raises(PluginError, match='descriptor "pii" needs lmops-presidio'):
            build_feature_frames(reference, current, explicit)


def test_a_reference_arrow_stops_reading_midway_is_measured_again_line_by_line(
    tmp_path: Path, jsonl: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
):
    # Small Arrow blocks: several chunks are measured before the reader meets a category
    # written as a number (line 1401), which it refuses where parsing line by line labels
    # it "5"; so the window is measured again, its vocabulary learnt from scratch.
    monkeypatch.setattr(jsonl_reader, "_ARROW_BLOCK", 8 << 10)
    as_number, as_label = logs(1500, seed=5), logs(1500, seed=5)
    as_number[1400]["route"], as_label[1400]["route"] = 5, "5"
    numbered = jsonl(tmp_path / "numbered.jsonl", as_number)
    labelled = jsonl(tmp_path / "labelled.jsonl", as_label)
    lines = jsonl_reader.ArrowLines(numbered, {"route": pa.string()})
    assert sum(batch.num_rows for batch in lines) > 64 and lines.failed
    current = jsonl(tmp_path / "current.jsonl", logs(300, seed=6, shifted=True))
    params = parse_params({"chunk_size": 64, "descriptors": ["words", "oov_rate", "lang"]})
    again = build_feature_frames(numbered, current, params)
    streamed = build_feature_frames(labelled, current, params)
    for name in ("reference", "current"):
        pd.testing.assert_frame_equal(_plain(getattr(again, name)), _plain(getattr(streamed, name)))
    assert again.reference["route"].iloc[1400] == "5"
