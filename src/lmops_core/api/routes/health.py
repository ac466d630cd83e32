"""``GET /health``: liveness, without a token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lmops_core.api.security import PUBLIC

router = APIRouter(tags=["health"])


# A coroutine: FastAPI runs a plain function, and then validates its answer, on the thread
# pool, two hops that made a probe cost about 1.0 ms of the server's CPU instead of 0.4-0.5.
@router.get("/health", dependencies=[Depends(PUBLIC)])
async def health() -> dict[str, str]:
    """Says the process answers; touches no store."""
    return {"status": "ok"}
