"""Concurrent requests' texts redacted together by the real ``pii`` guard (lmops_serve.batching)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

import pytest
from lmops_serve.batching import RedactionBatcher

from lmops_core.errors import ValidationError
from lmops_core.plugins import default_host
from lmops_core.runtimes import TextGuard


class Gated:
    """The real ``pii`` guard, whose first ``redact_batch`` waits until the test opens the gate;
    it records the texts of every batch."""

    def __init__(self, guard: TextGuard) -> None:
        self.guard = guard
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[str]] = []
        self.first: threading.Thread  # the caller holding the guard busy (see _busy)

    def redact_batch(self, texts: Sequence[str]) -> Sequence[Any]:
        self.batches.append(list(texts))
        if len(self.batches) == 1:
            self.entered.set()
            self.gate.wait(timeout=60)
        return self.guard.redact_batch(texts)

    def redact(self, text: str) -> Any:
        return self.guard.redact(text)


@pytest.fixture(scope="module")
def pii() -> TextGuard:
    found = default_host().find_guard("pii")
    assert found is not None, "lmops-presidio offers the pii guard"
    return found.build(patterns_only=True)


def _call(batcher: RedactionBatcher, text: str, answers: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            answers[text] = batcher.redact(text)
        except Exception as exc:  # noqa: BLE001 - the test looks at which caller got it
            answers[text] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _wait_queued(batcher: RedactionBatcher, count: int) -> None:
    with batcher._changed:  # noqa: SLF001 - the test waits for the queue it fills
        while len(batcher._pending) < count:  # noqa: SLF001
            batcher._changed.wait(timeout=0.05)


def _busy(pii: TextGuard, **options: int) -> tuple[Gated, RedactionBatcher, dict[str, Any]]:
    """A batcher whose guard is held busy with the text "first" until the gate opens."""
    gated = Gated(pii)
    batcher = RedactionBatcher(cast(TextGuard, gated), **options)
    answers: dict[str, Any] = {}
    gated.first = _call(batcher, "first", answers)
    assert gated.entered.wait(timeout=60)
    return gated, batcher, answers


def _release(gated: Gated, threads: list[threading.Thread]) -> None:
    gated.gate.set()
    for thread in [gated.first, *threads]:
        thread.join(timeout=60)


def test_texts_queued_while_the_guard_is_busy_are_redacted_in_one_batch(pii: TextGuard) -> None:
    gated, batcher, answers = _busy(pii)
    texts = [f"card {n}: 4111 1111 1111 1111" for n in range(3)] + ["write to ann@example.com"]
    threads = [_call(batcher, text, answers) for text in texts]
    _wait_queued(batcher, len(texts))
    _release(gated, threads)
    assert [len(batch) for batch in gated.batches] == [1, 4]
    assert sorted(gated.batches[1]) == sorted(texts)
    assert answers["write to ann@example.com"].text == "write to <EMAIL_ADDRESS>"
    for n in range(3):
        assert answers[texts[n]].text == f"card {n}: <CREDIT_CARD>"
    assert answers["first"].counts == {}


def test_a_text_the_guard_refuses_fails_only_its_own_caller(pii: TextGuard) -> None:
    gated, batcher, answers = _busy(pii, max_batch=8)
    bad = cast(str, b"bytes, not text")
    threads = [_call(batcher, "mail bob@example.org", answers), _call(batcher, bad, answers)]
    _wait_queued(batcher, 2)
    _release(gated, threads)
    assert [len(batch) for batch in gated.batches] == [1, 2]
    assert answers["mail bob@example.org"].text == "mail <EMAIL_ADDRESS>"
    assert isinstance(answers[bad], ValidationError) and "bytes, not str" in str(answers[bad])


def test_max_batch_bounds_a_batch_and_must_be_positive(pii: TextGuard) -> None:
    gated, batcher, answers = _busy(pii, max_batch=2)
    texts = [f"text {n}" for n in range(5)]
    threads = []
    for n, text in enumerate(texts):  # queued in a known order
        threads.append(_call(batcher, text, answers))
        _wait_queued(batcher, n + 1)
    _release(gated, threads)
    assert sorted(len(batch) for batch in gated.batches[1:]) == [1, 2, 2]
    assert sorted(t for batch in gated.batches[1:] for t in batch) == texts
    assert all(answers[text].text == text for text in texts)
    with pytest.raises(ValidationError, match="max_batch must be at least 1"):
        RedactionBatcher(pii, max_batch=0)
