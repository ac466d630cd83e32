"""Whether a governed version may be deployed with a bundle: approved for its stage now."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from lmops_core.contracts import AssetType
from lmops_core.errors import PolicyViolationError
from lmops_core.registry import store
from lmops_core.registry.names import parse_ref


def approved_version(
    s: Session, asset_type: AssetType, ref: str, *, stage: str
) -> tuple[str, Any, str]:
    """``(canonical ref, version row, approving request id)`` of ``ref``, or a
    ``PolicyViolationError`` naming it and ``stage``.

    The version must hold ``stage`` now, not be marked ``revalidation-required``, and have
    an approved request into ``stage`` for exactly its content.
    """
    from lmops_core.governance.decisions import REVALIDATION_REQUIRED
    from lmops_core.governance.models import ApprovalRequest

    _, version = store.resolve(s, parse_ref(ref, asset_type=asset_type), asset_type)
    canonical = store.ref_of(s, asset_type, version)
    refused = f"{asset_type} version {canonical} is not approved for {stage}"
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
                col(ApprovalRequest.asset_type) == asset_type,
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
        raise PolicyViolationError(f"{refused}: no approved request for its content", ref=canonical)
    return canonical, version, str(request.id)


def approved_guard_pin(s: Session, ref: str, *, stage: str) -> dict[str, str]:
    """What a bundle pins of the guard version ``ref`` approved for ``stage``: its
    reference, the name its configuration gives itself and its digest."""
    canonical, version, _ = approved_version(s, "guard", ref, stage=stage)
    return {"ref": canonical, "name": version.config_name, "digest": version.digest}
