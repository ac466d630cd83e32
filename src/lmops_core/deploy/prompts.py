"""Which prompt version a service may send its model's requests through: one approved for
the stage the model's bundle was made for, written for that model, asked again live."""

from __future__ import annotations

from dataclasses import dataclass

from lmops_core.deploy.approved import approved_version
from lmops_core.errors import PolicyViolationError
from lmops_core.prompts.spec import PromptSpec
from lmops_core.registry import store
from lmops_core.registry.db import Database


@dataclass(frozen=True)
class ServedPrompt:
    """A prompt version found approved for ``stage``, with the request that approved it."""

    ref: str
    digest: str
    stage: str
    request_id: str
    spec: PromptSpec

    def render(self, text: str) -> str:
        """``text`` (a request's prompt) put through the prompt version."""
        return self.spec.render_input(text, ref=self.ref)


def approved_prompt(db: Database, ref: str, *, stage: str, model_digest: str) -> ServedPrompt:
    """The prompt version ``ref``, or a ``PolicyViolationError`` naming it and ``stage``.

    It must hold ``stage`` now, not be marked ``revalidation-required``, have an approved
    request into ``stage`` for exactly its content, and target the model version whose
    content is ``model_digest`` (the model it was evaluated with).
    """
    with db.read() as s:
        canonical, version, request_id = approved_version(s, "prompt", ref, stage=stage)
        target = version.target_model_version_id
        target_row = None if target is None else store.version_by_id(s, "model", target)
        if target_row is None or target_row.digest != model_digest:
            aimed = "no model" if target_row is None else store.ref_of(s, "model", target_row)
            raise PolicyViolationError(
                f"prompt version {canonical} targets {aimed}, not the model this service runs "
                f"({model_digest}): it was approved with the model it was evaluated on",
                ref=canonical,
            )
        spec = PromptSpec(version.template, tuple(version.variables), version.system_prompt)
        spec.render_input("", ref=canonical)  # one variable, which receives each request
        return ServedPrompt(canonical, version.digest, stage, request_id, spec)
