"""Inference-log windows for the lmops-evidently tests; contexts come from lmops_core.testing."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from lmops_evidently.monitor import DriftMonitor
from lmops_evidently.sample_words import WORDS, ZH

from lmops_core.contracts import StageContext
from lmops_core.testing import StageContexts, dataset_input, model_input, write_jsonl

ROUTES = ("chat", "search", "summarise")


def log_records(n: int, seed: int, *, shifted: bool = False) -> list[dict[str, Any]]:
    """Inference-log records; ``shifted`` ones have long Chinese prompts, refusals, slow calls."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        if shifted:
            prompt = "".join(rng.choice(ZH) for _ in range(rng.randint(40, 90)))
            response = (
                "抱歉，我无法提供这些信息。" if rng.random() < 0.7 else "好的" * rng.randint(5, 30)
            )
            latency = rng.gauss(900.0, 80.0)
            tokens = rng.randint(200, 400)
            route = rng.choices(ROUTES, weights=(1, 1, 8))[0]
        else:
            prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15)))
            refuse = rng.random() < 0.05
            response = (
                "I'm sorry, but I can't help with that."
                if refuse
                else " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))
            )
            latency = rng.gauss(300.0, 40.0)
            tokens = rng.randint(20, 120)
            route = rng.choices(ROUTES, weights=(6, 3, 1))[0]
        records.append(
            {
                "prompt": prompt,
                "response": response,
                "latency_ms": round(latency, 2),
                "tokens": tokens,
                "route": route,
                "request_id": f"req-{rng.getrandbits(48):012x}",
            }
        )
    return records


MakeContext = Callable[..., StageContext]


@pytest.fixture
def make_context(stage_context: StageContexts) -> MakeContext:
    """``make_context(reference, current, params=None, model=None, kind="instruction")``: a
    drift context over two JSONL windows, parameters unchecked (the monitor checks them)."""

    def build(
        reference: Path,
        current: Path,
        params: dict[str, Any] | None = None,
        model: Path | None = None,
        kind: str = "instruction",
    ) -> StageContext:
        inputs = {
            "reference": dataset_input(reference, shape=kind),
            "current": dataset_input(current, shape=kind),
        }
        if model is not None:
            inputs["model"] = model_input(model)
        return stage_context(DriftMonitor(), inputs, params, seed=7, validate=False)

    return build


# pytest runs with --import-mode=importlib, so test modules cannot import this
# file: its factories are handed out as fixtures instead.


@pytest.fixture(scope="session")
def logs() -> Callable[..., list[dict[str, Any]]]:
    """The :func:`log_records` factory."""
    return log_records


@pytest.fixture(scope="session")
def jsonl() -> Callable[[Path, Iterable[dict[str, Any]]], Path]:
    """The kit's JSONL writer: ``jsonl(path, records)``."""
    return write_jsonl


@pytest.fixture(scope="session")
def vocabulary_words() -> tuple[str, ...]:
    """The English words the normal log records are made of."""
    return tuple(WORDS)
