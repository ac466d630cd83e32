"""Hook implementations of lmops-hf: the "sft" and "dpo" trainers and "training" evidence."""

from __future__ import annotations

from typing import Any

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_hf.evidence import TRAINING


@hookimpl
def register_trainers(register: Register) -> None:
    """Offer supervised fine-tuning (LoRA/full) and DPO preference tuning."""
    from lmops_hf.create_base import CreateBaseModel
    from lmops_hf.dpo import DpoTrainer
    from lmops_hf.sft import SftTrainer

    register(SftTrainer())
    register(DpoTrainer())
    register(CreateBaseModel())


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``lmops models create-base``."""
    import typer

    group = next((g.typer_instance for g in cli.registered_groups if g.name == "models"), None)
    if group is None:
        return

    @group.command("create-base")
    def create_base(
        name: str,
        size: str = typer.Option("tiny", help="tiny (seconds on CPU) or bench (~27M params)."),
        seed: int = typer.Option(0, help="Seed of the random weights."),
        risk_tier: str = typer.Option("standard", help="low, standard or high."),
    ) -> None:
        """Build a small causal LM locally (no hub) and register it as a base model version."""
        from lmops_core.cli.common import RichStageProgress, console, open_workspace

        with open_workspace() as ws:
            outcome = ws.run_stage("training", "create-base", inputs={},
                                   params={"name": name, "size": size, "risk_tier": risk_tier},
                                   seed=seed, progress=RichStageProgress())
        console.print(f"registered {outcome.output('model')} (run {outcome.run_id})")


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the "training" evidence kind attached to every trained version."""
    register(TRAINING)
