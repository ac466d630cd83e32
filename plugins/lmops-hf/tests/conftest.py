"""Shared fixtures: one tiny base model per session, small datasets, context factories."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lmops_hf.base_model import DATA_DIR, create_base_model

from lmops_core.contracts import InputAsset, NullProgress, ProgressReporter, Stage, StageContext
from lmops_core.digests import digest_file
from lmops_core.offline import set_offline_defaults

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()

ContextFactory = Callable[..., StageContext]


@pytest.fixture(scope="session", autouse=True)
def _quiet_transformers() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    # Hidden size 64 gains nothing from threads, and on a shared CPU extra threads only spin.
    torch.set_num_threads(1)

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight base model built from the shipped corpus."""
    return create_base_model(tmp_path_factory.mktemp("models") / "tiny", size="tiny", seed=0)


def _head(src: Path, dst: Path, n: int) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines()[:n]
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


@pytest.fixture(scope="session")
def small_instructions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 32 shipped instruction records."""
    return _head(DATA_DIR / "instructions.jsonl",
                 tmp_path_factory.mktemp("data") / "instructions.jsonl", 32)


@pytest.fixture(scope="session")
def small_preferences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 8 shipped preference records."""
    return _head(DATA_DIR / "preferences.jsonl",
                 tmp_path_factory.mktemp("data") / "preferences.jsonl", 8)


@pytest.fixture(scope="session")
def small_dialogues(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight two-turn dialogues."""
    path = tmp_path_factory.mktemp("data") / "dialogues.jsonl"
    rows = []
    for a in range(1, 9):
        rows.append({"messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": f"What is {a} + 1?"},
            {"role": "assistant", "content": f"{a} + 1 = {a + 1}."},
            {"role": "user", "content": f"Add {a} and 2."},
            {"role": "assistant", "content": f"{a} + 2 = {a + 2}."},
        ]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_context(tmp_path: Path) -> ContextFactory:
    """Build a real StageContext: base folder + dataset file, a fresh workdir each call."""
    counter = {"n": 0}

    def build(operation: str, base: Path, dataset: Path, kind: str,
              params: dict[str, Any] | None = None, seed: int | None = 0,
              progress: ProgressReporter | None = None) -> StageContext:
        counter["n"] += 1
        workdir = tmp_path / f"work{counter['n']}"
        workdir.mkdir()
        base_digest = digest_file(base / "model.safetensors") if (
            base / "model.safetensors").exists() else "sha256:" + "0" * 64
        return StageContext(
            stage=Stage.TRAINING, operation=operation, workdir=workdir, actor="tester",
            run_id=f"run-{counter['n']}", seed=seed, params=params or {},
            progress=progress or NullProgress(),
            inputs={
                "base": InputAsset(role="base", ref="tiny@1", asset_type="model", kind="base",
                                   digest=base_digest, path=base),
                "dataset": InputAsset(role="dataset", ref="data@1", asset_type="dataset",
                                      kind=kind, digest=digest_file(dataset), path=dataset),
            })

    return build


class RecordingProgress:
    """A progress reporter that remembers every call (a real reporter, for assertions)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, float | None]] = []
        self.advances: list[tuple[float, dict[str, Any]]] = []
        self.finished = 0

    def start(self, description: str, total: float | None = None) -> None:
        self.started.append((description, total))

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        self.advances.append((amount, fields))

    def finish(self) -> None:
        self.finished += 1


@pytest.fixture
def recording_progress() -> RecordingProgress:
    """A fresh recording progress reporter."""
    return RecordingProgress()
