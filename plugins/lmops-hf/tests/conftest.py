"""Small datasets and a training-context factory; the tiny model comes from lmops_core.testing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lmops_hf.base_model import DATA_DIR

from lmops_core.contracts import ProgressReporter, StageContext
from lmops_core.digests import digest_file
from lmops_core.testing import StageContexts, dataset_input, model_input
from lmops_core.testing.helpers import UNSTORED_DIGEST

ContextFactory = Callable[..., StageContext]


@pytest.fixture(scope="session", autouse=True)
def _quiet_transformers() -> None:
    import torch
    from transformers.utils import logging as hf_logging

    # Hidden size 64 gains nothing from threads, and on a shared CPU extra threads only spin.
    torch.set_num_threads(1)

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _head(src: Path, dst: Path, n: int) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines()[:n]
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


@pytest.fixture(scope="session")
def small_instructions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 32 shipped instruction records."""
    return _head(
        DATA_DIR / "instructions.jsonl", tmp_path_factory.mktemp("data") / "instructions.jsonl", 32
    )


@pytest.fixture(scope="session")
def small_preferences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 8 shipped preference records."""
    return _head(
        DATA_DIR / "preferences.jsonl", tmp_path_factory.mktemp("data") / "preferences.jsonl", 8
    )


@pytest.fixture(scope="session")
def small_dialogues(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight two-turn dialogues."""
    path = tmp_path_factory.mktemp("data") / "dialogues.jsonl"
    rows = []
    for a in range(1, 9):
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": "Answer in one sentence."},
                    {"role": "user", "content": f"What is {a} + 1?"},
                    {"role": "assistant", "content": f"{a} + 1 = {a + 1}."},
                    {"role": "user", "content": f"Add {a} and 2."},
                    {"role": "assistant", "content": f"{a} + 2 = {a + 2}."},
                ]
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def make_context(stage_context: StageContexts) -> ContextFactory:
    """``make_context(operation, base, dataset, kind, params=None, seed=0, progress=None)``: a
    training context over a base folder and a dataset file, parameters unchecked (the
    trainers' own checks are under test)."""

    def build(
        operation: str,
        base: Path,
        dataset: Path,
        kind: str,
        params: dict[str, Any] | None = None,
        seed: int | None = 0,
        progress: ProgressReporter | None = None,
    ) -> StageContext:
        weights = base / "model.safetensors"
        base_input = model_input(
            base,
            role="base",
            ref="tiny@1",
            digest=digest_file(weights) if weights.exists() else UNSTORED_DIGEST,
        )
        data = dataset_input(dataset, shape=kind, ref="data@1", digest=digest_file(dataset))
        return stage_context(
            operation,
            {"base": base_input, "dataset": data},
            params,
            stage="training",
            seed=seed,
            progress=progress,
            validate=False,
        )

    return build
