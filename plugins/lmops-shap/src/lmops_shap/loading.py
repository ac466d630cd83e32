"""Opening the model under explanation through the core's model runtimes."""

from __future__ import annotations

from lmops_core.contracts import StageContext
from lmops_core.runtimes import ScoringModel


def load_model(context: StageContext) -> ScoringModel:
    """The model under role ``"model"`` (an adapter merged into role ``"base"``), able to score.

    Attributions need the model's log-probabilities, so its kind's runtime must
    offer the ``"score"`` capability (lmops-hf's torch kinds do, ONNX exports do
    not: explain the version an export was made from instead).
    """
    model = context.load_model("model", needs=("generate", "score"))
    assert isinstance(model, ScoringModel)  # load_model checked the capability
    return model
