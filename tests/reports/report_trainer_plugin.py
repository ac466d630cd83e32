"""A test plugin offering a tiny real trainer, so tests get training runs with lineage.

It follows the public Operation contract: it reads the ``dataset`` input (only
counting its records), writes a small safetensors model folder under the
workdir and returns it as an output derived from the dataset, with a loss curve.
"""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register, StageContext, StageResult
from tests.fixtures.trained_models import trained_model


class CountingTrainer:
    """Writes a model whose single tensor encodes the record count of its dataset."""

    name = "report-test-train"
    description = "tiny trainer for report tests"

    def run(self, context: StageContext) -> StageResult:
        """Count the dataset's records and write a one-tensor model folder."""
        records = sum(1 for _ in context.records("dataset"))
        payload = bytes([records % 256, int(context.params.get("variant", 0)) % 256]) * 32
        loss = [2.0 / (step + 1) for step in range(20)]
        return StageResult(
            outputs=[trained_model(context, payload, name="chat", risk_tier="standard")],
            metrics={"final_loss": loss[-1], "records": float(records)},
            series={"loss": loss},
            params=dict(context.params),
        )


@hookimpl
def register_trainers(register: Register) -> None:
    """Offer the counting trainer."""
    register(CountingTrainer())
