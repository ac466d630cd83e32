"""A test plugin for the retraining loop: a tiny trainer from a base and an evaluator.

The trainer reads its ``dataset`` (counting records), derives a one-tensor model from its
``base`` and ``dataset`` inputs, and fails, as a real trainer can, when a record asks it to
(``FAIL-RETRAIN`` in a prompt). The holding trainer does the same, but the first time it
runs it says so (a file ``started`` in its ``hold`` folder) and then holds, as a long
training would, until its process is killed. The evaluator records ``eval`` evidence on
its ``model``.
"""

from __future__ import annotations

import time
from pathlib import Path

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


class HoldingTrainer(BaseTrainer):
    """:class:`BaseTrainer` that holds on its first run, until its process is killed."""

    name = "retrain-test-hold"
    description = "a trainer that holds on its first run, for the retraining lease's tests"

    def run(self, context: StageContext) -> StageResult:
        """Hold (at most ten minutes) the first time; train the next time."""
        started = Path(str(context.params["hold"])) / "started"
        if not started.exists():
            started.write_text("holding", encoding="utf-8")
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                time.sleep(0.1)
            raise StageError("the holding trainer was not killed within ten minutes")
        return super().run(context)


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
    """Offer the trainers."""
    register(BaseTrainer())
    register(HoldingTrainer())


@hookimpl
def register_evaluators(register: Register) -> None:
    """Offer the evaluator."""
    register(AccuracyEvaluator())
