"""Finding what an approval request is about from its id alone (subqueries), so that the
reads of its version go out in the same batch as the request's own read (on PostgreSQL, one
round trip) before the request's row is known."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from lmops_core.governance.models import ApprovalRequest

REQUESTS = ApprovalRequest.__table__  # type: ignore[attr-defined]
"""The approval requests' table."""

LIKELY_TYPE = "model"
"""The asset type whose version is read in the request's own batch: the usual one. A
request about another type finds no row there and reads its version after it."""


def request_version_id(asset_type: str, request_param: str) -> Any:
    """The id of the ``asset_type`` version that the request whose id is bound to
    ``request_param`` is about: a scalar subquery, NULL when the request is about another
    asset type (or does not exist)."""
    return (
        select(REQUESTS.c.version_id)
        .where(REQUESTS.c.id == bindparam(request_param), REQUESTS.c.asset_type == asset_type)
        .scalar_subquery()
    )


__all__ = ["LIKELY_TYPE", "REQUESTS", "request_version_id"]
