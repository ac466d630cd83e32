"""Opening the model under explanation (torch kinds only) through lmops-hf's loader."""

from __future__ import annotations

from typing import Any

from lmops_core.contracts import StageContext
from lmops_core.errors import PluginError, ValidationError
from lmops_core.offline import set_offline_defaults

TORCH_KINDS = frozenset({"base", "adapter", "merged", "full"})


def load_model(context: StageContext) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for role ``"model"``; an adapter is merged into role ``"base"``.

    Attributions need the model's log-probabilities, so only torch kinds are
    accepted: explain the model an ONNX export was made from instead.
    """
    set_offline_defaults()
    model = context.input("model")
    if model.asset_type != "model":
        raise ValidationError(
            f'input "model" must be a model version, got a {model.asset_type}', field="model"
        )
    if model.kind not in TORCH_KINDS:
        raise ValidationError(
            f'input "model" has kind "{model.kind}": the shap explainer needs a torch model '
            f'({", ".join(sorted(TORCH_KINDS))}); explain the version it was exported from',
            field="model",
        )
    if model.path is None:
        raise ValidationError('input "model" has no local path', field="model")
    try:
        from lmops_hf.generation import load_causal_lm
    except ImportError as exc:
        raise PluginError(
            f"lmops-shap needs the lmops-hf plugin to load models ({exc}); "
            "install it with: pip install lmops-hf",
            missing="lmops_hf",
        ) from exc
    base = None
    if model.kind == "adapter":
        base_input = context.input("base")
        if base_input.path is None:
            raise ValidationError('input "base" has no local path', field="base")
        base = base_input.path
    return load_causal_lm(model.path, base=base)
