"""Declared parameters of the evaluators (pydantic models the core validates runs against).

An unknown or ill-typed parameter is refused before a run starts, with an error
naming it. ``suite`` and ``task_paths`` used to name task folders on the host;
they are declared only to refuse them with the reason (task code runs only from
registered suites).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from lmops_core.contracts import OperationParams

Text = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]
HOST_PATH_PARAMS = ("suite", "task_paths")
"""Params that used to name task folders on the host; task code runs only from registered suites."""
_HOST_PATHS = (
    "is not accepted: task folders and suite files can run code, so they run only "
    "as a registered suite version. Register the folder (`lmops suites register NAME "
    "FOLDER`), have it approved for use if it holds code, and pass it as input role "
    '"suite"'
)


def _one_or_many(value: Any) -> Any:
    # A single string is one item.
    return [value] if isinstance(value, str) else value


class _RefusesHostPaths(OperationParams):
    suite: Any = Field(
        None, description='not accepted: pass a registered suite as input role "suite"'
    )
    task_paths: Any = Field(
        None, description='not accepted: pass a registered suite as input role "suite"'
    )

    @field_validator("suite", "task_paths", mode="before")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError(_HOST_PATHS)
        return value


class LmEvalParams(_RefusesHostPaths):
    """Parameters of ``lm-eval``; a suite (input role "suite") supplies tasks and defaults."""

    tasks: list[Text] | None = Field(
        None, description="lm-eval task names (default: the shipped tasks, or the suite's)"
    )
    limit: int | None = Field(None, ge=1, description="samples per task (default: all)")
    num_fewshot: int | None = Field(None, ge=0, description="few-shot examples")
    batch_size: int = Field(8, ge=1, description="requests per batch")
    bootstrap_iters: int = Field(1000, ge=0, description="bootstrap iterations for stderr")
    chat_template: bool | Literal["auto"] = Field(
        "auto", description='true, false or "auto" (when the tokenizer has one)'
    )

    @field_validator("tasks", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return _one_or_many(value)


class JudgeParams(_RefusesHostPaths):
    """Parameters of ``judge``."""

    prompts: list[Text] | None = Field(
        None, description="prompts answered and judged (default: the suite's, or shipped)"
    )
    max_new_tokens: int = Field(24, ge=1, description="answer tokens generated")
    judge_max_new_tokens: int = Field(4, ge=1, description="judge reply tokens generated")
    rubric: Literal["quality", "safety"] = Field(
        "quality", description="what the judge rates: correct and helpful, or safe to show"
    )
    answers: list[str] | None = Field(
        None, description="answers already given, one per prompt (the model is then not run)"
    )
    sample_ids: list[Text] | None = Field(
        None, description="an id per prompt, naming its rating (default: 0, 1, ...)"
    )

    @field_validator("prompts", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("answers", "sample_ids")
    @classmethod
    def _one_per_prompt(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        prompts = info.data.get("prompts")
        if value is not None and (prompts is None or len(value) != len(prompts)):
            have = "no prompts" if prompts is None else f"{len(prompts)} prompts"
            raise ValueError(f"needs one entry per prompt ({len(value)} given for {have})")
        if value is not None and info.field_name == "sample_ids" and len(set(value)) != len(value):
            raise ValueError("ids must be distinct")
        return value


class ServingPerfParams(OperationParams):
    """Parameters of ``serving-perf``."""

    prompts: Annotated[list[Text], Field(min_length=1)] | None = Field(
        None, description="prompts sent (default: shipped)"
    )
    concurrency: int = Field(1, ge=1, description="requests in flight at once")
    requests: int | None = Field(None, ge=1, description="requests sent (default: one per prompt)")
    max_new_tokens: int = Field(16, ge=1, description="tokens generated per request")
    warmup: int = Field(1, ge=0, description="warm-up requests, not measured")
    ignore_eos: bool = Field(True, description="generate max_new_tokens even past EOS")

    @field_validator("prompts", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return _one_or_many(value)


class RatingsParams(OperationParams):
    """Parameters of ``ratings``."""

    scale_min: int = Field(1, ge=0, description="lowest score on the scale")
    scale_max: int = Field(5, ge=1, description="highest score on the scale")

    @field_validator("scale_max")
    @classmethod
    def _above_min(cls, value: int, info: ValidationInfo) -> int:
        low = info.data.get("scale_min", 1)
        if value <= low:
            raise ValueError(f"must be greater than scale_min ({low})")
        return value
