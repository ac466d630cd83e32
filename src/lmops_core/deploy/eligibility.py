"""Which versions may be packaged for a stage: approved into it, under today's policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from lmops_core.errors import ConflictError, PolicyViolationError, ValidationError
from lmops_core.governance.decisions import REVALIDATION_REQUIRED
from lmops_core.governance.schemas import ApprovalRequestPublic
from lmops_core.policy import PolicySet
from lmops_core.registry.schemas import ModelVersionPublic, VersionPublic
from lmops_core.terms import GovernedStage
from lmops_core.vocabulary import GOVERNED_STAGES


class ApprovedRequests(Protocol):
    """Where the approved request of a version is looked up (the governance service)."""

    def approved_request(
        self, asset_type: str, ref: str, *, digest: str, stage: GovernedStage
    ) -> ApprovalRequestPublic | None:
        """The latest approved request that put exactly this content of ``ref`` into ``stage``."""
        ...


class DeploymentApprovals(ApprovedRequests, Protocol):
    """The governance service as packaging asks it: approved requests and today's policy."""

    def policies(self) -> PolicySet:
        """The policy files as they stand now."""
        ...


class VersionsAndApprovals(Protocol):
    """What eligibility reads of a store (a ``Workspace`` is one)."""

    def get(self, ref: str) -> VersionPublic:
        """The version a reference names."""
        ...

    @property
    def governance(self) -> DeploymentApprovals: ...


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
        return {
            "request_id": self.request_id,
            "ref": self.ref,
            "target_stage": self.target_stage,
            "requested_by": self.requested_by,
            "decided_at": self.decided_at,
            "snapshot_digest": self.snapshot_digest,
            "decisions": self.decisions,
        }


def check_approved(
    version: VersionPublic, *, stage: GovernedStage, requests: ApprovedRequests, policies: PolicySet
) -> ApprovalRequestPublic:
    """The approved request that put ``version`` in ``stage``, or why it may not act there.

    Refused (``ConflictError``) when the version is not in ``stage`` now;
    refused (``PolicyViolationError``) when it is revalidation-required, when
    no approved request for exactly this content and stage exists, or when the
    policy files that governed that approval changed since, or new ones now
    govern the transition. Deployment operations and bundles both ask this.
    """
    if stage not in GOVERNED_STAGES:
        raise ValidationError(
            f"unknown stage {stage!r} (expected one of {', '.join(GOVERNED_STAGES)})", field="stage"
        )
    if version.stage != stage:
        raise ConflictError(
            f"{version.ref} is in stage {version.stage or 'none'}, not {stage}: "
            f"only a version approved into {stage} can be deployed for it"
        )
    if version.status == REVALIDATION_REQUIRED:
        raise PolicyViolationError(
            f"{version.ref} is {REVALIDATION_REQUIRED}: it was revoked or "
            "breached monitoring and must be revalidated and approved again"
        )
    req = requests.approved_request(
        version.asset_type, version.ref, digest=version.digest, stage=stage
    )
    if req is None:
        raise PolicyViolationError(
            f"{version.ref} has no approved promotion request to {stage} for its current content"
        )
    current = policies.digests
    for file, digest in sorted(req.policy_digests.items()):
        if current.get(file) != digest:
            raise PolicyViolationError(
                f"policy file {file} changed (or was removed) after request {req.id} approved "
                f"{version.ref} for {stage}: request a new promotion under the current policy"
            )
    tier = getattr(version, "risk_tier", None) or "standard"
    governing = {m.file: m.digest for m in policies.select(version.asset_type, tier, stage)}
    added = sorted(set(governing) - set(req.policy_digests))
    if added:
        raise PolicyViolationError(
            f"policy file(s) {', '.join(added)} now govern promotion to {stage} but did not when "
            f"request {req.id} was approved: request a new promotion under the current policy"
        )
    return req


def check_deployable(
    source: VersionsAndApprovals, ref: str, *, stage: GovernedStage
) -> tuple[ModelVersionPublic, ApprovalRecord]:
    """The model version and its approval record, or the reason it may not be packaged.

    The rules of :func:`check_approved`, for model versions only.
    """
    if stage not in GOVERNED_STAGES:
        raise ValidationError(
            f"unknown stage {stage!r} (expected one of {', '.join(GOVERNED_STAGES)})", field="stage"
        )
    found = source.get(ref)
    if not isinstance(found, ModelVersionPublic):
        raise ValidationError(
            f"{found.ref} is a {found.asset_type}: only model versions are packaged into bundles",
            field="ref",
        )
    req = check_approved(
        found, stage=stage, requests=source.governance, policies=source.governance.policies()
    )
    decisions = [
        {
            "actor": d.actor,
            "role": d.role,
            "decision": d.decision,
            "comment": d.comment,
            "created_at": d.created_at.isoformat(),
        }
        for d in req.decisions
    ]
    return found, ApprovalRecord(
        request_id=req.id,
        ref=req.ref,
        target_stage=req.target_stage,
        requested_by=req.requested_by,
        decided_at=req.decided_at.isoformat() if req.decided_at else None,
        snapshot_digest=req.snapshot_digest,
        policy_digests=dict(req.policy_digests),
        decisions=decisions,
    )
