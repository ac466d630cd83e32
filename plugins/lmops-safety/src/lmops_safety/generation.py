"""The model side of the suite: a tiny generator interface and loading one from inputs.

The suite only needs ``generate(prompt, max_new_tokens) -> str``, so anything
with that method can be evaluated: any model kind a plugin registers a runtime
for (lmops-hf's torch kinds, lmops-onnx's exports), or a client of a remote
service.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from lmops_core.contracts import StageContext
from lmops_core.prompts import PromptedRun


@runtime_checkable
class TextGenerator(Protocol):
    """Anything that answers a prompt with text."""

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        """The model's reply to ``prompt``, at most ``max_new_tokens`` tokens, greedy."""
        ...


class _Greedy:
    """Pins greedy decoding on a generator whose ``generate`` takes more options."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        return str(self.inner.generate(prompt, max_new_tokens=max_new_tokens, do_sample=False))


def load_generator(context: StageContext) -> TextGenerator:
    """A greedy generator for the input under role ``"model"`` (plus ``"base"`` for adapters)."""
    # Params were validated by the evaluator; "threads" is an int or absent.
    return _Greedy(context.load_model("model", threads=context.params.get("threads")))


class _Prompted:
    """Sends each probe through a prompt version before the model answers it."""

    def __init__(self, inner: TextGenerator, prompted: PromptedRun) -> None:
        self.inner = inner
        self.prompted = prompted

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        return self.inner.generate(self.prompted.text(prompt), max_new_tokens)


def prompted_generator(generator: TextGenerator, prompted: PromptedRun) -> TextGenerator:
    """``generator`` answering each probe rendered through ``prompted``'s prompt (if any)."""
    return generator if prompted.spec is None else _Prompted(generator, prompted)
