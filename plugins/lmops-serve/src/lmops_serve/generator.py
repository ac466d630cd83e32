"""Opening the model of a verified bundle with the runtime registered for its kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmops_core.runtimes import LoadedModel, RuntimeSource

Generator = LoadedModel
"""What the service needs from a model: whole and streamed generation, and a tokenizer."""


def load_generator(folder: Path, kind: str, runtimes: RuntimeSource) -> tuple[Generator, str]:
    """``(generator, engine name)`` for a folder of verified plaintext model files of ``kind``.

    The kind's runtime is whichever plugin registered it (lmops-hf for torch
    kinds, lmops-onnx for ONNX exports); an unknown kind fails naming it.
    """
    model = runtimes.model_runtime(kind).open(folder)
    return model, model.engine


def count_tokens(generator: Any, text: str) -> int:
    """Tokens ``text`` encodes to with the model's tokenizer (no special tokens)."""
    return len(generator.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
