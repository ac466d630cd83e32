"""Hook implementations of lmops-hf: trainers, "training" evidence, the torch model runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_core.kit import registers
from lmops_core.runtimes import LoadedModel, ModelRuntime
from lmops_hf.evidence import TRAINING

#: Model kinds opened with transformers (an adapter is merged into its base on load).
TORCH_KINDS = ("base", "adapter", "merged", "full")


def open_torch_model(
    folder: Path, *, base: Path | None = None, threads: int | None = None
) -> LoadedModel:
    """A :class:`~lmops_hf.generation.TorchGenerator` over a model folder (torch imported here).

    ``threads`` is not applied here: torch's thread count is per process, so
    callers scope it with :func:`lmops_core.runtimes.torch_threads`.
    """
    from lmops_hf.generation import TorchGenerator, load_causal_lm

    model, tokenizer = load_causal_lm(folder, base=base)
    return TorchGenerator(model, tokenizer)


@hookimpl
def register_model_runtimes(register: Register) -> None:
    """Open the torch kinds (base, adapter, merged, full) with transformers: generate and score."""
    from lmops_hf.base_model import tiny_adapter, tiny_model

    for kind in TORCH_KINDS:
        register(
            ModelRuntime(
                kind=kind,
                load=open_torch_model,
                engine="transformers",
                tiny=tiny_adapter if kind == "adapter" else tiny_model,
                needs_base=kind == "adapter",
                capabilities=frozenset({"generate", "score"}),
                description="transformers causal LM on CPU"
                + (" (merged into its base on load)" if kind == "adapter" else ""),
            )
        )


#: Supervised fine-tuning (LoRA/full), DPO preference tuning, and building a base model.
register_trainers = registers(
    "lmops_hf.sft:SftTrainer", "lmops_hf.dpo:DpoTrainer", "lmops_hf.create_base:CreateBaseModel"
)


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
            outcome = ws.run_stage(
                "training",
                "create-base",
                inputs={},
                params={"name": name, "size": size, "risk_tier": risk_tier},
                seed=seed,
                progress=RichStageProgress(),
            )
        console.print(f"registered {outcome.output('model')} (run {outcome.run_id})")


#: The "training" evidence kind attached to every trained version.
register_evidence_kinds = registers(TRAINING)
