"""Factories for JSONL windows and stage contexts used by the lmops-evidently tests."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from lmops_core.contracts import InputAsset, NullProgress, Stage, StageContext
from lmops_core.offline import set_offline_defaults

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()

WORDS = [
    "the",
    "model",
    "answers",
    "questions",
    "about",
    "weather",
    "travel",
    "cooking",
    "music",
    "history",
    "science",
    "sport",
    "garden",
    "books",
    "films",
    "cities",
    "rivers",
    "mountains",
    "coffee",
    "trains",
    "maps",
    "code",
    "data",
]
ZH = "你好世界数据模型天气旅行音乐历史科学城市河流山脉咖啡火车地图代码"
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


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write canonical JSONL (UTF-8, one object per line)."""
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def dataset(role: str, path: Path, kind: str = "instruction") -> InputAsset:
    """A dataset version as the core would materialise it."""
    return InputAsset(
        role=role, ref=f"logs:{role}", asset_type="dataset", kind=kind, digest="0" * 64, path=path
    )


MakeContext = Callable[..., StageContext]


@pytest.fixture
def make_context(tmp_path: Path) -> MakeContext:
    """Build a real StageContext for the drift monitor over two JSONL files."""

    def build(
        reference: Path,
        current: Path,
        params: dict[str, Any] | None = None,
        model: Path | None = None,
        kind: str = "instruction",
    ) -> StageContext:
        inputs = {
            "reference": dataset("reference", reference, kind),
            "current": dataset("current", current, kind),
        }
        if model is not None:
            inputs["model"] = InputAsset(
                role="model",
                ref="tiny:1",
                asset_type="model",
                kind="base",
                digest="1" * 64,
                path=model,
            )
        return StageContext(
            stage=Stage.MONITORING,
            operation="drift",
            inputs=inputs,
            params=params or {},
            workdir=tmp_path / "work",
            actor="tester",
            run_id="run-1",
            seed=7,
            progress=NullProgress(),
        )

    return build


# pytest runs with --import-mode=importlib, so test modules cannot import this
# file: its factories are handed out as fixtures instead.


@pytest.fixture(scope="session")
def logs() -> Callable[..., list[dict[str, Any]]]:
    """The :func:`log_records` factory."""
    return log_records


@pytest.fixture(scope="session")
def jsonl() -> Callable[[Path, Iterable[dict[str, Any]]], Path]:
    """The :func:`write_jsonl` writer."""
    return write_jsonl


@pytest.fixture(scope="session")
def vocabulary_words() -> tuple[str, ...]:
    """The English words the normal log records are made of."""
    return tuple(WORDS)
