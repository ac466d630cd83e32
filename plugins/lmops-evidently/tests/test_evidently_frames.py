"""Reading (and preparing) a window's next chunk while the current one is measured
(frames.read_ahead, WindowBuilder.prepare)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from lmops_evidently import frames
from lmops_evidently.frames import build_feature_frames, read_ahead
from lmops_evidently.params import parse_params

from lmops_core.errors import ValidationError


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lmops-drift-read"]


def _same(item: Any) -> Any:
    return item


def test_items_arrive_in_order_and_are_produced_and_prepared_on_another_thread():
    producers: list[int] = []
    preparers: list[int] = []

    def items() -> Iterator[int]:
        for i in range(50):
            producers.append(threading.get_ident())
            yield i

    def prepare(item: int) -> tuple[int, int]:
        preparers.append(threading.get_ident())
        return item, item * item

    assert list(read_ahead(items(), prepare)) == [(i, i * i) for i in range(50)]
    assert set(producers) and threading.get_ident() not in producers
    assert set(preparers) == set(producers)
    assert not _readers()


def test_the_next_item_is_produced_while_the_caller_holds_the_current_one():
    second_made = threading.Event()

    def items() -> Iterator[str]:
        yield "first"
        second_made.set()
        yield "second"

    ahead = read_ahead(items(), _same)
    assert next(ahead) == "first"
    # Nothing more is asked for, yet the reader makes the next item.
    assert second_made.wait(timeout=60)
    assert list(ahead) == ["second"]


def test_an_error_while_producing_reaches_the_caller_after_the_items_before_it():
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValidationError("window.jsonl, line 3: not valid JSON", file="window.jsonl", line=3)

    got: list[int] = []
    with pytest.raises(ValidationError, match="line 3"):
        for item in read_ahead(items(), _same):
            got.append(item)
    assert got == [1, 2]
    assert not _readers()


def test_a_caller_that_stops_early_stops_and_closes_the_reader():
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="measuring failed"):
        for item in read_ahead(items(), _same):
            if item == 3:
                raise RuntimeError("measuring failed")
    assert closed.is_set()
    assert not _readers()


def test_frames_read_ahead_equal_frames_read_in_the_calling_thread(
    tmp_path: Path, jsonl: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
):
    reference = jsonl(tmp_path / "reference.jsonl", logs(300, seed=5))
    current = jsonl(tmp_path / "current.jsonl", logs(300, seed=6, shifted=True))
    params = parse_params({"chunk_size": 40, "pii_rows": 40})
    ahead = build_feature_frames(reference, current, params)
    monkeypatch.setattr(frames, "read_ahead", lambda items, prepare: map(prepare, items))
    here = build_feature_frames(reference, current, params)
    for name in ("reference", "current"):
        pd.testing.assert_frame_equal(getattr(ahead, name), getattr(here, name))


def test_both_windows_are_counted_and_a_broken_reference_is_named_first(tmp_path: Path):
    reference = tmp_path / "reference.jsonl"
    current = tmp_path / "current.jsonl"
    reference.write_bytes(b'{"prompt": "hi"}\n{"prompt": "\xff"}\n')
    current.write_bytes(b'{"prompt": "\xfe"}\n')
    params = parse_params({"descriptors": ["length"]})
    with pytest.raises(ValidationError, match=r"reference\.jsonl, line 2: not valid JSON"):
        build_feature_frames(reference, current, params)
    reference.write_bytes(b'{"prompt": "hi"}\n{"prompt": "ho"}\n')
    with pytest.raises(ValidationError, match=r"current\.jsonl, line 1: not valid JSON"):
        build_feature_frames(reference, current, params)
    assert not [t for t in threading.enumerate() if t.name.startswith("lmops-drift-count")]


_SETTLE = """
import gc
from lmops_evidently.frames import settle_heap

class Made:  # tracked by the collector (a dict of strings would not be)
    pass


before = Made()
settle_heap()
first = gc.get_freeze_count()
after = Made()
settle_heap()  # once per process: nothing more is frozen
tracked = gc.get_objects()
print(first > 0, gc.get_freeze_count() <= first,
      any(o is before for o in tracked), any(o is after for o in tracked))
"""


def test_the_first_run_freezes_what_lives_then_and_only_once():
    # A fresh interpreter: whether this one was settled depends on the tests run before.
    done = subprocess.run(
        [sys.executable, "-c", _SETTLE], capture_output=True, text=True, check=True, timeout=600
    )
    assert done.stdout.split() == ["True", "True", "False", "True"]


def test_the_reader_prepares_numbers_categories_and_refusal_anchors(
    tmp_path: Path, jsonl: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
):
    from lmops_evidently import window

    reference = jsonl(tmp_path / "reference.jsonl", logs(300, seed=5))
    current = jsonl(tmp_path / "current.jsonl", logs(300, seed=6, shifted=True))
    anchored_on: list[str] = []
    prepared_on: list[str] = []
    anchored, prepare = window.refusal_anchored, window.WindowBuilder.prepare

    def recorded_anchors(texts: Any) -> Any:
        anchored_on.append(threading.current_thread().name)
        return anchored(texts)

    def recorded_prepare(self: Any, chunk: Any) -> Any:
        prepared_on.append(threading.current_thread().name)
        return prepare(self, chunk)

    monkeypatch.setattr(window, "refusal_anchored", recorded_anchors)
    monkeypatch.setattr(window.WindowBuilder, "prepare", recorded_prepare)
    built = build_feature_frames(reference, current, parse_params({"chunk_size": 40}))
    # 8 chunks per window; only the response's refusals are measured, each chunk once.
    assert prepared_on == anchored_on == ["lmops-drift-read"] * 16
    assert built.reference["response.refusal"].sum() > 0
