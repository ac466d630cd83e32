"""Which prompt version a service may send its model's requests through: one approved for
the stage the model's bundle was made for, written for that model, asked again live."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from lmops_core.errors import PolicyViolationError
from lmops_core.prompts.spec import PromptSpec
from lmops_core.registry import store
from lmops_core.registry.db import Database
from lmops_core.registry.names import parse_ref


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
    from lmops_core.governance.decisions import REVALIDATION_REQUIRED
    from lmops_core.governance.models import ApprovalRequest

    with db.read() as s:
        _, version = store.resolve(s, parse_ref(ref, asset_type="prompt"), "prompt")
        canonical = store.ref_of(s, "prompt", version)
        refused = f"prompt version {canonical} is not approved for {stage}"
        if version.status == REVALIDATION_REQUIRED:
            raise PolicyViolationError(f"{refused}: it is {REVALIDATION_REQUIRED}", ref=canonical)
        if version.stage != stage:
            raise PolicyViolationError(
                f"{refused}: it is in stage {version.stage or 'none'}", ref=canonical
            )
        request = (
            s.execute(
                select(ApprovalRequest)
                .where(
                    col(ApprovalRequest.asset_type) == "prompt",
                    col(ApprovalRequest.ref) == canonical,
                    col(ApprovalRequest.version_digest) == version.digest,
                    col(ApprovalRequest.target_stage) == stage,
                    col(ApprovalRequest.status) == "approved",
                )
                .order_by(col(ApprovalRequest.decided_at).desc())
            )
            .scalars()
            .first()
        )
        if request is None:
            raise PolicyViolationError(
                f"{refused}: no approved request for its content", ref=canonical
            )
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
        return ServedPrompt(canonical, version.digest, stage, request.id, spec)
