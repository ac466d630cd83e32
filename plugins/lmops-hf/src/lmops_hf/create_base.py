"""The ``create-base`` operation: build a small base model locally, as a recorded run.

Registering the base model through a run (rather than a bare upload) records how
it was made: size, seed and the corpus its tokenizer was trained on.
"""

from __future__ import annotations

from lmops_core.contracts import OutputAsset, StageContext, StageResult
from lmops_core.kit import BaseOperation
from lmops_hf.params import CreateBaseParams


class CreateBaseModel(BaseOperation[CreateBaseParams]):
    """Build a small causal LM offline (random weights, tokenizer trained on a shipped text) and
    register it as a base model version.

    Build a random-weight Llama-style model with a locally trained tokenizer.
    """

    name = "create-base"
    input_roles: dict[str, str] = {}

    def execute(self, context: StageContext, params: CreateBaseParams) -> StageResult:
        size = params.size
        from lmops_hf.base_model import create_base_model

        seed = context.seed if context.seed is not None else 0
        folder = create_base_model(context.workdir / "model", size=size, seed=seed)
        return StageResult(
            outputs=[
                OutputAsset(
                    role="model",
                    asset_type="model",
                    path=folder,
                    kind="base",
                    name=params.name,
                    risk_tier=params.risk_tier,
                    metadata={"size": size, "seed": seed, "origin": "create-base"},
                )
            ],
            params={"size": size, "seed": seed},
        )
