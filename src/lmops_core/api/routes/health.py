"""``GET /health``: liveness, without a token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lmops_core.api.security import PUBLIC

router = APIRouter(tags=["health"])


@router.get("/health", dependencies=[Depends(PUBLIC)])
def health() -> dict[str, str]:
    """Says the process answers; touches no store."""
    return {"status": "ok"}
