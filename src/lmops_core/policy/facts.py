"""What the workflow tells the policy engine about a request: the facts it is judged on."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

from lmops_core.contracts import Stage
from lmops_core.digests import parse_digest
from lmops_core.errors import ValidationError
from lmops_core.policy.model import AssetKind, RiskTier


def _checked_digest(value: str) -> str:
    # pydantic reports only ValueError with the field's location, so translate ours.
    try:
        return parse_digest(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from None


Digest = Annotated[str, AfterValidator(_checked_digest)]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceFacts(_Facts):
    """One evidence record attached to a version."""

    kind: str = Field(min_length=1)
    subject_digest: Digest = Field(description="Digest of the version the evidence is about.")
    metrics: dict[str, JsonValue] = Field(default_factory=dict)
    created_at: AwareDatetime
    stage: Stage | None = None
    plugin: str | None = None
    digest: Digest | None = Field(default=None, description="Digest of the evidence record.")
    actor: str | None = Field(default=None, description="Who ran the stage that measured it.")
    run_id: str | None = None
    paired: str | None = Field(
        default=None, description="The model version a prompt version's result was measured with."
    )


class VersionFacts(_Facts):
    """The version a request is about."""

    ref: str = Field(min_length=1, description="Human reference, e.g. 'acme-chat@3'.")
    digest: Digest
    asset_type: AssetKind
    risk_tier: RiskTier
    kind: str | None = Field(default=None, description="Shape, e.g. adapter, onnx-int8, text.")
    created_by: str | None = None
    created_at: AwareDatetime | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    target_model: str | None = Field(
        default=None, description="A prompt version's target model version, e.g. 'model:m@2'."
    )


class StageVersionFacts(VersionFacts):
    """A version that currently holds a stage, with its own evidence."""

    evidence: list[EvidenceFacts] = Field(default_factory=list)


class EvaluationFacts(_Facts):
    """Everything a policy evaluation may read.

    ``current`` is the version now holding the target stage; ``production`` the
    one now in production. For a transition to ``production`` they are the same
    version, so giving either is enough.
    """

    version: VersionFacts
    transition: str = Field(min_length=1, description="Target stage of the request.")
    requester: str = Field(min_length=1)
    evidence: list[EvidenceFacts] = Field(default_factory=list)
    current: StageVersionFacts | None = None
    production: StageVersionFacts | None = None

    @model_validator(mode="before")
    @classmethod
    def _production_is_current_for_production(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("transition") != "production":
            return data
        current, production = data.get("current"), data.get("production")
        if current is None or production is None:
            both = current if current is not None else production
            return {**data, "current": both, "production": both}
        return data

    @model_validator(mode="after")
    def _same_version_in_production(self) -> Self:
        if (
            self.transition == "production"
            and self.current is not None
            and self.production is not None
            and self.current.digest != self.production.digest
        ):
            raise ValueError(
                "for a transition to production, 'current' and 'production' must be the same "
                f"version (got {self.current.digest} and {self.production.digest})"
            )
        return self
