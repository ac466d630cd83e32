"""The ``create-base`` operation: build a small base model locally, as a recorded run.

Registering the base model through a run (rather than a bare upload) records how
it was made: size, seed and the corpus its tokenizer was trained on.
"""

from __future__ import annotations

from typing import Any

from lmops_core.contracts import OutputAsset, StageContext, StageResult
from lmops_core.errors import ValidationError

_ALLOWED = {"name": str, "size": str, "risk_tier": str, "description": str}


class CreateBaseModel:
    """Build a random-weight Llama-style model with a locally trained tokenizer."""

    name = "create-base"
    input_roles: dict[str, str] = {}
    description = ("Build a small causal LM offline (random weights, tokenizer trained on a "
                   "shipped text) and register it as a base model version.")

    def run(self, context: StageContext) -> StageResult:
        params: dict[str, Any] = dict(context.params)
        for key, value in params.items():
            if key not in _ALLOWED:
                raise ValidationError(f'create-base: unknown parameter "{key}" (allowed: '
                                      f'{", ".join(sorted(_ALLOWED))})', field=f"params.{key}")
            if not isinstance(value, _ALLOWED[key]):
                raise ValidationError(f'create-base: parameter "{key}" must be a string',
                                      field=f"params.{key}")
        if "name" not in params:
            raise ValidationError('create-base: parameter "name" (the model name) is required',
                                  field="params.name")
        size = params.get("size", "tiny")
        if size not in ("tiny", "bench"):
            raise ValidationError(f'create-base: parameter "size" must be tiny or bench, '
                                  f"got {size!r}", field="params.size")
        from lmops_hf.base_model import create_base_model

        seed = context.seed if context.seed is not None else 0
        folder = create_base_model(context.workdir / "model", size=size, seed=seed)
        return StageResult(
            outputs=[OutputAsset(role="model", asset_type="model", path=folder, kind="base",
                                 name=params["name"], risk_tier=params.get("risk_tier"),
                                 metadata={"size": size, "seed": seed, "origin": "create-base"})],
            params={"size": size, "seed": seed},
        )
