"""The model side of the suite: a tiny generator interface and loading one from inputs.

The suite only needs ``generate(prompt, max_new_tokens) -> str``, so anything
with that method can be evaluated: a transformers model (through lmops-hf), an
ONNX export (through lmops-onnx), or a client of a remote service.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from lmops_core.contracts import StageContext
from lmops_core.errors import PluginError, ValidationError
from lmops_core.offline import set_offline_defaults

TORCH_KINDS = frozenset({"base", "adapter", "merged", "full"})
ONNX_KINDS = frozenset({"onnx", "onnx-int8"})


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


def _needs(plugin: str, module: str, kind: str, exc: ImportError) -> PluginError:
    return PluginError(
        f'lmops-safety: evaluating a "{kind}" model needs the {plugin} plugin ({exc}); '
        f"install it with: pip install {plugin}",
        missing=module,
    )


def load_generator(context: StageContext) -> TextGenerator:
    """A greedy generator for the input under role ``"model"`` (plus ``"base"`` for adapters)."""
    set_offline_defaults()
    model = context.input("model")
    if model.asset_type != "model":
        raise ValidationError(
            f'input "model" must be a model version, got a {model.asset_type}', field="model"
        )
    if model.path is None:
        raise ValidationError('input "model" has no local path', field="model")
    if model.kind in TORCH_KINDS:
        try:
            from lmops_hf.generation import TorchGenerator, load_causal_lm
        except ImportError as exc:
            raise _needs("lmops-hf", "lmops_hf", model.kind, exc) from exc
        base = None
        if model.kind == "adapter":
            base_input = context.input("base")
            if base_input.path is None:
                raise ValidationError('input "base" has no local path', field="base")
            base = base_input.path
        lm, tokenizer = load_causal_lm(model.path, base=base)
        return _Greedy(TorchGenerator(lm, tokenizer))
    if model.kind in ONNX_KINDS:
        try:
            from lmops_onnx.runtime import OrtGenerator
        except ImportError as exc:
            raise _needs("lmops-onnx", "lmops_onnx", model.kind, exc) from exc
        # Params were validated by the evaluator; "threads" is an int or absent.
        return _Greedy(OrtGenerator(model.path, threads=context.params.get("threads")))
    known = ", ".join(sorted(TORCH_KINDS | ONNX_KINDS))
    raise ValidationError(
        f'input "model" has kind "{model.kind}", which lmops-safety cannot run (known: {known})',
        field="model",
    )
