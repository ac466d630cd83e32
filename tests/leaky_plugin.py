"""A test plugin that hands secrets to the core everywhere a plugin can.

Its trainer echoes its parameters back, puts secrets in run info, output
metadata and evidence details, and (with ``fail: true``) raises an error whose
message carries a database URL with a password and a bearer token. The core
must keep every one of them out of what it stores and shows.
"""

from __future__ import annotations

from typing import Any

from lmops_core import hookimpl
from lmops_core.contracts import (
    EvidenceRecord,
    Register,
    StageContext,
    StageResult,
)
from tests.fixtures.trained_models import trained_model


class LeakyTrainer:
    """Writes a one-tensor model and reports every secret it was given."""

    name = "leaky-train"
    description = "test trainer that leaks its secrets"

    def run(self, context: StageContext) -> StageResult:
        """Leak ``params["leak"]`` into every field of the result (or raise with it)."""
        leak: Any = context.params.get("leak", {})
        if context.params.get("fail"):
            raise RuntimeError(
                f"cannot reach {leak['dsn']}; sent Authorization: Bearer "
                f"{leak['bearer']} and key {leak['openai']}"
            )
        return StageResult(
            outputs=[
                trained_model(context, bytes(range(64)), name="leaky", metadata={"origin": leak})
            ],
            evidence=[
                EvidenceRecord(
                    kind="eval",
                    subject="model",
                    metrics={"acc": 0.9},
                    details={"config": leak, "log": [f"{k}={v}" for k, v in _flat(leak)]},
                )
            ],
            metrics={"final_loss": 0.5},
            params={"echo": leak},
            info={"env": leak},
        )


def _flat(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flat(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [kv for i, v in enumerate(value) for kv in _flat(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), value)]


@hookimpl
def register_trainers(register: Register) -> None:
    """Offer the leaky trainer."""
    register(LeakyTrainer())
