"""``GET /api/v1/inventory``: the model inventory a risk function reviews; ``GET
/api/v1/guards``: the runtime guard configurations in front of those models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from lmops_core.api.errors import ERROR_RESPONSES
from lmops_core.api.security import READERS, acting, cached_json
from lmops_core.contracts import AssetType
from lmops_core.governance.schemas import Principal
from lmops_core.validation import INT64_MAX
from lmops_core.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["inventory"], responses=ERROR_RESPONSES)


class OpenRequest(BaseModel):
    """A pending promotion request of one version."""

    id: str
    target_stage: str
    requested_by: str
    created_at: datetime
    expires_at: datetime


class InventoryVersion(BaseModel):
    """One model version, where it stands and what is asked of it."""

    ref: str
    version: int
    kind: str
    stage: str | None
    status: str
    digest: str
    created_at: datetime
    created_by: str
    open_requests: list[OpenRequest]


class InventoryModel(BaseModel):
    """One model with its risk tier and versions."""

    name: str
    description: str
    risk_tier: str | None
    latest_version: int
    versions: list[InventoryVersion]


class Inventory(BaseModel):
    """One page of models (by name)."""

    items: list[InventoryModel]
    total: int
    limit: int
    offset: int


#: What an inventory row copies from the version (a prompt or dataset has no ``kind``).
_SHARED_VERSION_FIELDS = set(InventoryVersion.model_fields) - {"kind", "open_requests"}


@router.get("/inventory", response_model=Inventory)
async def inventory(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Response:
    """Models with their versions, stages, risk tier and open requests."""
    return await cached_json(
        request,
        ("inventory", limit, offset),
        lambda: _inventory(acting(request, principal), limit, offset),
    )


@router.get("/guards", response_model=Inventory)
async def guards(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Response:
    """Runtime guard configurations with their versions, stages, risk tier and open requests
    (``kind`` is the configuration's document kind)."""
    return await cached_json(
        request,
        ("guards", limit, offset),
        lambda: _inventory(acting(request, principal), limit, offset, "guard"),
    )


def _inventory(
    ws: Workspace, limit: int, offset: int, asset_type: AssetType = "model"
) -> Inventory:
    assets = sorted(ws.list_assets(asset_type), key=lambda a: a.name)
    page = assets[offset : offset + limit]
    versions = {asset.name: ws.list_versions(asset_type, asset.name) for asset in page}
    pending = ws.governance.pending_by_ref(
        asset_type, [v.ref for listed in versions.values() for v in listed]
    )
    items = []
    for asset in page:
        rows = [
            InventoryVersion(
                **v.model_dump(include=_SHARED_VERSION_FIELDS),
                kind=getattr(v, "kind", None) or getattr(v, "config_kind", ""),
                open_requests=[
                    OpenRequest.model_validate(r, from_attributes=True)
                    for r in pending.get(v.ref, [])
                ],
            )
            for v in versions[asset.name]
        ]
        items.append(
            InventoryModel(
                name=asset.name,
                description=asset.description,
                risk_tier=asset.risk_tier,
                latest_version=asset.latest_version,
                versions=rows,
            )
        )
    return Inventory(items=items, total=len(assets), limit=limit, offset=offset)
