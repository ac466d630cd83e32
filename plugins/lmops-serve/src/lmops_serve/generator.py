"""Opening the model of a verified bundle: transformers for torch folders, ORT for ONNX."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol


class Generator(Protocol):
    """What the service needs from a model: whole and streamed generation, and a tokenizer."""

    tokenizer: Any

    def generate(self, prompt: str, max_new_tokens: int = 32, do_sample: bool = False,
                 temperature: float = 1.0, top_k: int = 0, seed: int | None = None) -> str:
        """The reply to ``prompt``."""
        ...

    def stream(self, prompt: str, max_new_tokens: int = 32, do_sample: bool = False,
               temperature: float = 1.0, top_k: int = 0, seed: int | None = None
               ) -> Iterator[str]:
        """The reply, one decoded piece per token."""
        ...


def is_onnx_folder(folder: Path) -> bool:
    """An exported ONNX model folder (``model.onnx`` at its root)."""
    return (folder / "model.onnx").is_file()


def load_generator(folder: Path) -> tuple[Generator, str]:
    """``(generator, engine name)`` for a folder of verified plaintext model files."""
    if is_onnx_folder(folder):
        from lmops_onnx.runtime import OrtGenerator

        return OrtGenerator(folder), "onnxruntime"
    from lmops_hf.generation import TorchGenerator, load_causal_lm

    model, tokenizer = load_causal_lm(folder)
    return TorchGenerator(model, tokenizer), "transformers"


def count_tokens(generator: Generator, text: str) -> int:
    """Tokens ``text`` encodes to with the model's tokenizer (no special tokens)."""
    return len(generator.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0
