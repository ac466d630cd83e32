"""A test plugin for the retraining loop: a tiny trainer from a base and an evaluator.

The trainer reads its ``dataset`` (counting records), derives a one-tensor model from its
``base`` and ``dataset`` inputs, and fails, as a real trainer can, when a record asks it to
(``FAIL-RETRAIN`` in a prompt). The evaluator records ``eval`` evidence on its ``model``.
"""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import (
    EvidenceRecord,
    OutputAsset,
    Register,
    StageContext,
    StageResult,
)
from lmops_core.errors import StageError
from tests.conftest import make_model_folder

FAIL_MARK = "FAIL-RETRAIN"


class BaseTrainer:
    """Trains (in one line) a new version of the base's model from the base and the dataset."""

    name = "retrain-test-train"
    description = "tiny trainer from a base model, for the retraining loop's tests"
    input_roles = {"base": "model", "dataset": "dataset"}

    def run(self, context: StageContext) -> StageResult:
        """Count the records (failing on the marker), write the model, derived from both."""
        records = 0
        for record in context.records("dataset"):
            if FAIL_MARK in str(record.get("prompt", "")):
                raise StageError("the training data asked this trainer to fail")
            records += 1
        payload = bytes([records % 256, 7]) * 32
        return StageResult(
            outputs=[
                OutputAsset(
                    role="model",
                    asset_type="model",
                    path=make_model_folder(context.workdir / "model", payload),
                    kind="full",
                    derived_from=["base", "dataset"],
                )
            ],
            metrics={"records": float(records)},
            params=dict(context.params),
        )


class AccuracyEvaluator:
    """Records the ``acc`` it is given as ``eval`` evidence on its model."""

    name = "retrain-test-eval"
    description = "records eval evidence, for the retraining loop's tests"
    input_roles = {"model": "model"}

    def run(self, context: StageContext) -> StageResult:
        """One eval record on the model input."""
        acc = float(context.params.get("acc", 0.7))
        return StageResult(
            evidence=[EvidenceRecord(kind="eval", subject="model", metrics={"acc": acc})]
        )


@hookimpl
def register_trainers(register: Register) -> None:
    """Offer the trainer."""
    register(BaseTrainer())


@hookimpl
def register_evaluators(register: Register) -> None:
    """Offer the evaluator."""
    register(AccuracyEvaluator())
