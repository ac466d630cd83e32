"""Declared parameters of the trainers and ``create-base`` (pydantic models the core validates).

An unknown or ill-typed parameter is refused before a run starts, with an error
naming it; the trainers read the validated values, defaults filled in.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from lmops_core.contracts import OperationParams

DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ModuleName = Annotated[str, StringConstraints(min_length=1)]
ModuleList = Annotated[list[ModuleName], Field(min_length=1)]


class TrainParams(OperationParams):
    """Parameters every trainer here accepts."""

    method: Literal["lora", "full"] = Field("lora", description="lora (PEFT adapter) or full")
    lora_r: int = Field(8, gt=0, description="LoRA rank")
    lora_alpha: float = Field(16, gt=0, description="LoRA scaling numerator")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA path")
    target_modules: ModuleList = Field(
        default_factory=lambda: list(DEFAULT_TARGETS), description="modules LoRA wraps"
    )
    modules_to_save: ModuleList | None = Field(
        None,
        description="modules trained in full beside LoRA (e.g. lm_head) and saved with the adapter",
    )
    learning_rate: float = Field(2e-3, gt=0, description="peak learning rate")
    epochs: float = Field(1.0, gt=0, description="passes over the dataset (ignored with max_steps)")
    max_steps: int | None = Field(None, gt=0, description="total optimizer steps")
    batch_size: int = Field(8, gt=0, description="examples per step")
    gradient_accumulation_steps: int = Field(1, gt=0, description="micro-batches per step")
    max_length: int = Field(256, gt=0, description="tokens kept per example")
    lr_scheduler: Literal["linear", "cosine", "constant"] = Field(
        "linear", description="learning-rate schedule"
    )
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    merge: bool = Field(False, description="also output the adapter merged into the base")
    checkpoint_every: int = Field(50, gt=0, description="save a checkpoint every N steps")
    keep_checkpoints: int = Field(2, gt=0, description="newest checkpoints kept")
    resume_from: str | None = Field(None, description="checkpoint folder to resume from")
    max_steps_this_session: int | None = Field(
        None, gt=0, description="stop (checkpointed) after N steps in this session"
    )
    allow_pickle: bool = Field(False, description="accept pickle-based weight files")
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="torch CPU threads while training "
        "(default: torch's); 1 suits tiny models on a shared machine",
    )


class SftParams(TrainParams):
    """Parameters of ``sft``."""


class DpoParams(TrainParams):
    """Parameters of ``dpo``: a higher default learning rate, and DPO's own two."""

    learning_rate: float = Field(5e-3, gt=0, description="peak learning rate")
    beta: float = Field(0.1, gt=0, description="DPO temperature on the implicit reward")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(
        "sigmoid", description="DPO loss variant (trl)"
    )


class CreateBaseParams(OperationParams):
    """Parameters of ``create-base``."""

    name: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="the model name (required)"
    )
    size: Literal["tiny", "bench"] = Field("tiny", description="tiny or bench")
    risk_tier: str | None = Field(None, description="risk tier of the model if it is new")
    description: str | None = Field(None, description="what the model is for")
