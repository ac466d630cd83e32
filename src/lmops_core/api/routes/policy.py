"""``GET /api/v1/policy/explain``: how the policy judges a promotion right now."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from lmops_core.api.errors import ERROR_RESPONSES
from lmops_core.api.paths import scrub
from lmops_core.api.routes import Text
from lmops_core.api.security import READERS, acting
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.schemas import Principal

router = APIRouter(prefix="/api/v1/policy", tags=["policy"], responses=ERROR_RESPONSES)


@router.get("/explain")
def explain(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    ref: Annotated[Text, Query(min_length=1, max_length=256, examples=["model:chat@1"])],
    to: Annotated[Text, Query(min_length=1, max_length=64, examples=["production"])],
) -> dict[str, Any]:
    """Dry run of the policy for promoting ``ref`` to ``to`` (rules, outcomes, approvals)."""
    evaluation = acting(request, principal).governance.explain(ref, to=check_target_stage(to))
    return dict(scrub(request, evaluation.model_dump(mode="json")))
