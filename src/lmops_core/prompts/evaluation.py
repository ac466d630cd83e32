"""What an evaluator does differently when a prompt version is among its inputs.

An evaluator that accepts a prompt under role ``"prompt"`` sends each suite item through
it (:meth:`PromptedRun.text`) and records its evidence about the prompt version, paired
with the model version under ``"model"`` that answered (:meth:`PromptedRun.evidence`).
Without a prompt, items go to the model as they are and evidence is about the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_core.contracts import EvidenceRecord, StageContext
from lmops_core.prompts.spec import PromptSpec, prompt_of

PROMPT_ROLE = "prompt"
"""The input role an evaluator takes a prompt version under."""


@dataclass(frozen=True)
class PromptedRun:
    """The prompt an evaluation runs the model with (``spec`` ``None``: the bare model)."""

    spec: PromptSpec | None = None
    ref: str | None = None
    model_role: str = "model"

    @classmethod
    def of(cls, context: StageContext, model_role: str = "model") -> PromptedRun:
        """The prompt under role ``"prompt"`` of ``context``, checked to take one item."""
        asset = context.inputs.get(PROMPT_ROLE)
        if asset is None:
            return cls(model_role=model_role)
        spec = prompt_of(asset)
        spec.render_input("", ref=asset.ref)  # one variable, before any model is loaded
        return cls(spec, asset.ref, model_role)

    def text(self, item: str) -> str:
        """What the model is sent for one suite item."""
        if self.spec is None or self.ref is None:
            return item
        return self.spec.render_input(item, ref=self.ref)

    def evidence(
        self,
        kind: str,
        metrics: Mapping[str, Any],
        details: Mapping[str, Any],
        artifacts: Mapping[str, Path] | None = None,
    ) -> EvidenceRecord:
        """The run's evidence: about the prompt, paired with the model, when one was given."""
        if self.spec is None:
            return EvidenceRecord(kind, self.model_role, metrics, details, dict(artifacts or {}))
        described = {
            **details,
            "prompt": {"ref": self.ref, "system_prompt": self.spec.system_prompt},
        }
        return EvidenceRecord(
            kind, PROMPT_ROLE, metrics, described, dict(artifacts or {}), paired=self.model_role
        )
