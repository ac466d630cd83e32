"""The policy file schema: pydantic models that validate YAML and publish a JSON Schema.

Every model forbids unknown keys, so a misspelt key is an error rather than a
rule that silently does nothing.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from lmops_core.contracts import Stage
from lmops_core.vocabulary import RISK_TIERS as RISK_TIERS

API_VERSION = "lmops/v1"
ASSET_TYPES: tuple[str, ...] = ("model", "prompt", "dataset", "suite", "guard")
BREACH_ACTIONS: tuple[str, ...] = ("alert", "revalidation-required", "revoke", "retrain")

AssetKind = Literal["model", "prompt", "dataset", "suite", "guard"]
RiskTier = Literal["low", "standard", "high"]
BreachAction = Literal["alert", "revalidation-required", "revoke", "retrain"]
Event = Literal["promotion", "monitoring"]
Severity = Literal["block", "warn"]

_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
_DURATION_PATTERN = r"^[1-9][0-9]{0,5}[smhdw]$"
_DURATION_RE = re.compile(_DURATION_PATTERN)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Name = Annotated[str, Field(pattern=_NAME_PATTERN)]


def parse_duration(value: object) -> timedelta:
    """Turn ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"`` or ``"2w"`` into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or _DURATION_RE.fullmatch(value) is None:
        raise ValueError(
            f"invalid duration {value!r}: expected a whole number and a unit s, m, h, d or w "
            "(e.g. 30d, 12h)"
        )
    return timedelta(seconds=int(value[:-1]) * _UNIT_SECONDS[value[-1]])


def format_duration(value: timedelta) -> str:
    """The shortest ``<n><unit>`` spelling of a whole-second duration."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


# YAML spells durations as short strings; Python code gets timedeltas.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": _DURATION_PATTERN, "description": "e.g. 30d, 12h, 90m"}
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppliesTo(_Strict):
    """Which requests a rule governs: an asset type, risk tiers, a target stage, an event."""

    asset: AssetKind = Field(description="Asset type the rule governs.")
    risk_tiers: list[RiskTier] | None = Field(
        default=None, min_length=1, description="Risk tiers it governs; omitted means every tier."
    )
    transition: Name = Field(
        description="Target stage, e.g. staging, production, approved-for-training."
    )
    event: Event = Field(
        default="promotion",
        description="'promotion' gates entering the stage; 'monitoring' gates staying in it.",
    )


class EvidenceRequirement(_Strict):
    """Evidence of one kind the rule needs before its conditions can pass."""

    kind: Name = Field(description="Evidence kind, e.g. eval, safety, pii, drift.")
    stage: Stage | None = Field(default=None, description="Only evidence recorded by this stage.")
    plugin: str | None = Field(default=None, description="Only evidence produced by this plugin.")
    max_age: Duration | None = Field(
        default=None, description="Only evidence younger than this at evaluation time."
    )
    same_digest: bool = Field(
        default=True,
        description="Only evidence whose subject is exactly the version being evaluated.",
    )
    description: str = ""


class Condition(_Strict):
    """A CEL expression that must evaluate to true."""

    name: Name
    expr: str = Field(min_length=1, description="CEL expression returning a bool.")
    message: str = Field(default="", description="Shown when the condition fails.")
    severity: Severity = Field(
        default="block", description="'block' gates the transition; 'warn' is advisory."
    )


class ApprovalRequirement(_Strict):
    """Sign-offs the workflow must collect before the transition happens."""

    role: Name
    count: int = Field(default=1, ge=1, le=20)


class RetrainBudget(_Strict):
    """How many retrainings a model may start in a rolling period."""

    count: int = Field(default=3, ge=1, le=1000, description="Retrainings allowed per period.")
    per: Duration = Field(default=timedelta(days=30), description="The rolling period.")


class RetrainSettings(_Strict):
    """The pipeline a breach runs to retrain, and the guard rails around it."""

    pipeline: str = Field(
        min_length=1,
        max_length=512,
        description="Pipeline file, relative to the policy file's folder (e.g. retrain.yaml).",
    )
    cooldown: Duration = Field(
        default=timedelta(days=1),
        description="No new retraining of the same model starts sooner than this after the last.",
    )
    budget: RetrainBudget = Field(
        default_factory=RetrainBudget, description="At most this many retrainings per period."
    )


class RetrainOnBreach(_Strict):
    """``retrain: {pipeline: ...}``: open a retraining request and run the pipeline for it."""

    retrain: RetrainSettings


def _breach_tag(value: object) -> str:
    return "[retrain]" if isinstance(value, dict | RetrainOnBreach) else "[action]"


# An item of ``on_breach``: an action's name, or ``retrain`` with the pipeline to run. The
# tags carry brackets so error locations (see lmops_core.policy.loader) leave them out.
BreachItem = Annotated[
    Annotated[BreachAction, Tag("[action]")] | Annotated[RetrainOnBreach, Tag("[retrain]")],
    Discriminator(_breach_tag),
]


def breach_action_name(item: BreachAction | RetrainOnBreach) -> str:
    """The action an ``on_breach`` item names (``retrain`` for a pipeline to run)."""
    return "retrain" if isinstance(item, RetrainOnBreach) else item


class Rule(_Strict):
    """One governance rule: what it applies to, evidence, conditions and sign-offs."""

    name: Name
    description: str = ""
    applies_to: AppliesTo
    evidence: list[EvidenceRequirement] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    approvals: list[ApprovalRequirement] = Field(default_factory=list)
    separation_of_duties: bool = Field(
        default=True,
        description="Requester, author and every approver must be distinct people.",
    )
    require_personal_signature: bool = Field(
        default=False,
        description="Every approval or rejection must be signed with the reviewer's own "
        "registered key; a decision authenticated by token or OS user does not count.",
    )
    request_ttl: Duration | None = Field(
        default=None, description="A promotion request expires after this long."
    )
    on_breach: list[BreachItem] = Field(
        default_factory=list,
        description="What monitoring does when the rule stops passing: an action's name, or "
        "{retrain: {pipeline: FILE}} to run a retraining pipeline for people to review.",
    )

    @field_validator("evidence")
    @classmethod
    def _one_requirement_per_kind(cls, value: list[EvidenceRequirement]) -> list[Any]:
        refuse_duplicates([item.kind for item in value], "evidence kind")
        return value

    @field_validator("conditions")
    @classmethod
    def _unique_condition_names(cls, value: list[Condition]) -> list[Any]:
        refuse_duplicates([item.name for item in value], "condition name")
        return value

    @field_validator("approvals")
    @classmethod
    def _unique_roles(cls, value: list[ApprovalRequirement]) -> list[Any]:
        refuse_duplicates([item.role for item in value], "approval role")
        return value

    @model_validator(mode="after")
    def _one_item_per_action(self) -> Rule:
        # An action twice (two pipelines to retrain with) has no single meaning: refused.
        refuse_duplicates([breach_action_name(item) for item in self.on_breach], "on_breach action")
        return self

    @property
    def retrain(self) -> RetrainSettings | None:
        """The retraining pipeline this rule runs on a breach, if it names one."""
        for item in self.on_breach:
            if isinstance(item, RetrainOnBreach):
                return item.retrain
        return None


def document_config(title: str) -> ConfigDict:
    """The config of a whole lmops file's model: strict, frozen, its schema titled ``title``."""
    return ConfigDict(
        extra="forbid",
        frozen=True,
        title=title,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )


class LmopsDocument(_Strict):
    """What every lmops YAML file (a policy, a compliance pack) starts with."""

    api_version: Literal["lmops/v1"] = Field(alias="apiVersion")


def _unique_rule_names(value: list[Rule]) -> list[Rule]:
    refuse_duplicates([item.name for item in value], "rule name")
    return value


#: A file's rules, no two with the same name.
Rules = Annotated[list[Rule], AfterValidator(_unique_rule_names)]


class PolicyDocument(LmopsDocument):
    """A policy file: a named set of rules."""

    model_config = document_config("lmops policy")

    kind: Literal["Policy"]
    name: Name
    description: str = ""
    rules: Rules = Field(min_length=1)


def refuse_duplicates(names: list[str], what: str) -> None:
    """A ``ValueError`` naming the first name that appears twice in ``names``."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} {name!r}")
        seen.add(name)


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file, generated from :class:`PolicyDocument`."""
    return PolicyDocument.model_json_schema(by_alias=True)


def schema_text(schema: dict[str, Any]) -> str:
    """A JSON Schema as the exact text committed under ``docs/`` (sorted, indented)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_policy_schema() -> str:
    """The schema as the exact text committed to ``docs/policy-schema.json``."""
    return schema_text(policy_json_schema())


def write_policy_schema(path: Path) -> None:
    """Write the published schema file (``docs/policy-schema.json``)."""
    path.write_text(render_policy_schema(), encoding="utf-8")
