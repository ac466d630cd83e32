"""Declared parameters of ``sweep`` and ``heldout-loss`` (pydantic models the core validates)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from lmops_core.contracts import OperationParams

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Scalar = bool | int | float | str | None | list[str]


class Dimension(OperationParams):
    """One searched parameter: a float or int range (``log`` for a log scale, ``step``
    for a grid), or a list of ``choices`` (numbers, strings, lists of module names)."""

    type: Literal["float", "int", "categorical"]
    low: float | None = Field(None, description="lower bound (float, int)")
    high: float | None = Field(None, description="upper bound (float, int)")
    log: bool = Field(False, description="sample on a log scale (float, int)")
    step: float | None = Field(None, gt=0, description="grid step (float, int)")
    choices: list[Scalar] | None = Field(None, min_length=1, description="values (categorical)")

    @model_validator(mode="after")
    def _consistent(self) -> Dimension:
        if self.type == "categorical":
            if self.choices is None or self.low is not None or self.high is not None:
                raise ValueError("a categorical dimension takes choices, not low/high")
            return self
        if self.choices is not None or self.low is None or self.high is None:
            raise ValueError(f"a {self.type} dimension takes low and high, not choices")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log scale needs low > 0 and no step")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError("an int dimension needs whole low and high")
        return self


class SweepParams(OperationParams):
    """Parameters of ``sweep``."""

    trainer: Name = Field("sft", description="training operation each trial runs")
    space: dict[Name, Dimension] = Field(
        min_length=1,
        description='searched trainer parameters, e.g. {"lora_r": {"type": "int", "low": 2, '
        '"high": 16}}',
    )
    fixed: dict[Name, Any] = Field(
        default_factory=dict, description="trainer parameters every trial uses as given"
    )
    output_role: Name = Field("adapter", description="the trial output the objective measures")
    objective: Name = Field(
        "heldout-loss", description="evaluation operation run on each trial's output"
    )
    objective_metric: Name = Field(
        "heldout_loss", description="the objective run's metric the sweep optimises"
    )
    objective_params: dict[Name, Any] = Field(
        default_factory=dict, description="parameters of the objective run"
    )
    direction: Literal["minimize", "maximize"] = Field("minimize", description="of the metric")
    sampler: Literal["tpe", "random", "qmc", "grid"] = Field(
        "tpe", description="Optuna sampler (seeded with the run's seed)"
    )
    pruner: Literal["median", "percentile", "none"] = Field(
        "median", description="prunes trials whose training loss is worse than the others'"
    )
    pruner_warmup_steps: int = Field(
        2, ge=0, description="training steps before a trial may be pruned"
    )
    pruner_startup_trials: int = Field(
        1, ge=0, description="trials run to the end before pruning starts"
    )
    n_trials: int = Field(10, ge=1, le=10_000, description="trials in all, resumed runs included")
    timeout_s: float | None = Field(
        None, gt=0, description="wall-time budget of this session (no new trial after it)"
    )
    n_jobs: int = Field(
        1, ge=1, le=64, description="trials run at once (threads; give each trainer threads=1)"
    )
    study: Name | None = Field(
        None, description="study name (default: derived from inputs, trainer, space and seed)"
    )
    enqueue: list[dict[Name, Any]] = Field(
        default_factory=list, description="trainer parameters to try first (a new study only)"
    )
    keep: Literal["all", "best"] = Field(
        "all", description="keep every trial's files, or release the losers' to lmops gc"
    )
    report: bool = Field(True, description="write the HTML report of the study")

    @model_validator(mode="after")
    def _disjoint(self) -> SweepParams:
        both = sorted(set(self.space) & set(self.fixed))
        if both:
            raise ValueError(f"{', '.join(both)} both searched (space) and fixed")
        return self


class HeldoutParams(OperationParams):
    """Parameters of ``heldout-loss``."""

    limit: int | None = Field(None, gt=0, description="records read (default: all)")
    max_length: int = Field(256, gt=0, description="tokens kept per record")
    threads: int | None = Field(None, ge=1, le=256, description="torch CPU threads")
