"""Which versions may be packaged for a stage: approved into it, under today's policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lmops_core.errors import ConflictError, PolicyViolationError, ValidationError
from lmops_core.governance.workflow import GOVERNED_STAGES
from lmops_core.registry.schemas import ModelVersionPublic

if TYPE_CHECKING:
    from lmops_core.workspace import Workspace


@dataclass(frozen=True)
class ApprovalRecord:
    """The approved promotion that makes a version deployable, as written into the manifest."""

    request_id: str
    ref: str
    target_stage: str
    requested_by: str
    decided_at: str | None
    snapshot_digest: str
    policy_digests: dict[str, str]
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``approval`` section of a bundle manifest."""
        return {"request_id": self.request_id, "ref": self.ref,
                "target_stage": self.target_stage, "requested_by": self.requested_by,
                "decided_at": self.decided_at, "snapshot_digest": self.snapshot_digest,
                "decisions": self.decisions}


def check_deployable(ws: Workspace, ref: str, *, stage: str
                     ) -> tuple[ModelVersionPublic, ApprovalRecord]:
    """The version and its approval, or the reason it may not be packaged for ``stage``.

    Refused (``ConflictError``) when the version is not in ``stage`` now;
    refused (``PolicyViolationError``) when no approved request for exactly this
    content and stage exists, or when the policy files that governed that
    approval changed since, or new ones now govern the transition.
    """
    if stage not in GOVERNED_STAGES:
        raise ValidationError(f"unknown stage {stage!r} (expected one of "
                              f"{', '.join(GOVERNED_STAGES)})", field="stage")
    version = ws.get(ref)
    if not isinstance(version, ModelVersionPublic):
        raise ValidationError(f"{version.ref} is a {version.asset_type}: only model versions "
                              "are packaged into bundles", field="ref")
    if version.stage != stage:
        raise ConflictError(f"{version.ref} is in stage {version.stage or 'none'}, not {stage}: "
                            f"only a version approved into {stage} can be packaged for it")
    requests = ws.governance.list_requests(status="approved", asset_type="model",
                                           target_stage=stage, limit=500).items
    mine = [r for r in requests if r.ref == version.ref and r.version_digest == version.digest]
    if not mine:
        raise PolicyViolationError(f"{version.ref} has no approved promotion request to {stage} "
                                   "for its current content")
    req = max(mine, key=lambda r: (r.decided_at or r.created_at))
    policies = ws.governance.policies()
    current = policies.digests
    for file, digest in sorted(req.policy_digests.items()):
        if current.get(file) != digest:
            raise PolicyViolationError(
                f"policy file {file} changed (or was removed) after request {req.id} approved "
                f"{version.ref} for {stage}: request a new promotion under the current policy")
    governing = {m.file: m.digest
                 for m in policies.select("model", version.risk_tier or "standard", stage)}
    added = sorted(set(governing) - set(req.policy_digests))
    if added:
        raise PolicyViolationError(
            f"policy file(s) {', '.join(added)} now govern promotion to {stage} but did not when "
            f"request {req.id} was approved: request a new promotion under the current policy")
    decisions = [{"actor": d.actor, "role": d.role, "decision": d.decision,
                  "comment": d.comment, "created_at": d.created_at.isoformat()}
                 for d in req.decisions]
    return version, ApprovalRecord(
        request_id=req.id, ref=req.ref, target_stage=req.target_stage,
        requested_by=req.requested_by,
        decided_at=req.decided_at.isoformat() if req.decided_at else None,
        snapshot_digest=req.snapshot_digest, policy_digests=dict(req.policy_digests),
        decisions=decisions)
