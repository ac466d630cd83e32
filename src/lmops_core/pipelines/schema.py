"""The pipeline file format: steps, their actions, and loading a file with clear errors.

A pipeline is a list of steps, each with an ``id``, an optional ``as`` (the
actor), and exactly one action (see :mod:`lmops_core.pipelines`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from lmops_core.errors import ValidationError
from lmops_core.kit import read_yaml_file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RegisterDataset(_Strict):
    name: str
    path: str | None = None
    paths: list[str] | None = None
    shape: str
    drop_invalid: bool = False
    description: str = ""


class RegisterModel(_Strict):
    name: str
    path: str
    kind: str = "base"
    risk_tier: str | None = None


class RegisterSuite(_Strict):
    name: str
    path: str
    description: str = ""


class RunStage(_Strict):
    stage: str
    operation: str
    inputs: dict[str, str] = {}
    params: dict[str, Any] = {}
    seed: int | None = None


class Explain(_Strict):
    ref: str
    to: str
    expect: Literal["allowed", "blocked"] | None = None


class Promote(_Strict):
    ref: str
    to: str
    expect: Literal["pending", "approved", "refused"] | None = None


class Approve(_Strict):
    request: str
    role: str
    comment: str
    approve: bool = True
    #: ``name-only`` acts under the step's name without its credential (to show a refusal).
    credential: Literal["own", "name-only"] = "own"
    expect: Literal["refused"] | None = None


class AwaitApproval(_Strict):
    request: str


class People(_Strict):
    admin: str
    roles: dict[str, list[str]] = {}
    signing_keys: list[str] = []


class Bundle(_Strict):
    ref: str
    stage: str = "production"
    out: str | None = None


class Serve(_Strict):
    bundle: str
    prompts: list[str]
    max_new_tokens: int = 24
    guard_mode: Literal["redact", "block", "off"] = "redact"
    timeout_s: float = 120.0
    #: The serving target, by the name a plugin registered it under.
    target: str = "local"
    #: A prompt version (``prompt:NAME@N``) every request goes through; it must be approved
    #: for the bundle's stage and written for the bundle's model, or the step fails.
    prompt: str | None = Field(default=None, min_length=1, max_length=256)
    #: The replies that must come back, one per prompt in order (a different one fails the step).
    expect: list[str] | None = None


class Monitor(_Strict):
    model: str
    reference: str
    current: str
    monitor: str = "drift"
    params: dict[str, Any] = {}
    expect: Literal["ok", "breach"] | None = None


class Step(_Strict):
    """One step: an id, who acts, and exactly one action."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    as_: str | None = Field(default=None, alias="as")
    title: str | None = None
    people: People | None = None
    grant: dict[str, list[str]] | None = None
    register_dataset: RegisterDataset | None = None
    register_model: RegisterModel | None = None
    register_suite: RegisterSuite | None = None
    run: RunStage | None = None
    explain: Explain | None = None
    promote: Promote | None = None
    await_approval: AwaitApproval | None = None
    approve: Approve | None = None
    bundle: Bundle | None = None
    serve: Serve | None = None
    monitor: Monitor | None = None
    verify_audit: dict[str, Any] | None = None

    def action(self) -> tuple[str, Any]:
        given = [
            (k, v)
            for k, v in self.__dict__.items()
            if k not in ("id", "as_", "title") and v is not None
        ]
        if len(given) != 1:
            names = ", ".join(k for k, _ in given) or "none"
            raise ValueError(f"step {self.id!r} needs exactly one action (given: {names})")
        return given[0]


class Pipeline(_Strict):
    """A pipeline file."""

    apiVersion: Literal["lmops/v1"]
    kind: Literal["Pipeline"]
    name: str
    description: str = ""
    actor: str = "ml-engineer"
    steps: list[Step]


def load_pipeline(path: Path) -> Pipeline:
    """Parse and validate a pipeline file; errors name the file and the field."""
    raw = read_yaml_file(path)
    try:
        pipeline = Pipeline.model_validate(raw)
        seen: set[str] = set()
        for step in pipeline.steps:
            step.action()
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(
            f"{path}: {where}: {first['msg']}", file=str(path), field=where
        ) from None
    except ValueError as exc:
        raise ValidationError(f"{path}: {exc}", file=str(path)) from None
    return pipeline
