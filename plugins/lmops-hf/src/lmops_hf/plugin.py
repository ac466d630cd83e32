"""Hook implementations of lmops-hf: the "sft" and "dpo" trainers and "training" evidence."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_hf.dpo import DpoTrainer
from lmops_hf.evidence import TRAINING
from lmops_hf.sft import SftTrainer


@hookimpl
def register_trainers(register: Register) -> None:
    """Offer supervised fine-tuning (LoRA/full) and DPO preference tuning."""
    register(SftTrainer())
    register(DpoTrainer())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the "training" evidence kind attached to every trained version."""
    register(TRAINING)
