"""A governed workspace with a model promoted to production, for bundle tests."""

from __future__ import annotations

from pathlib import Path

from lmops_core.workspace import Workspace
from tests.conftest import key_ws, make_model_folder, policy_ws, prod_policy, staffed, ws_as

POLICY = prod_policy("deploy-policy")


def governed_workspace(tmp_path: Path) -> Workspace:
    """A SQLite workspace with a policy folder and the four roles granted."""
    return staffed(policy_ws(tmp_path, POLICY, file="deploy.yaml", actor="root"))


def register_and_promote(
    ws: Workspace, folder: Path, *, name: str = "chat", promote: bool = True
) -> str:
    """Register ``folder`` as a model, attach eval evidence, and (optionally) promote it."""
    v = ws_as(ws, "eng").register_model(name, folder)
    ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
    if promote:
        req = ws_as(ws, "eng").governance.request_promotion(v.ref, to="production")
        # The validator signs with a personal key, the risk officer through a token.
        key_ws(ws, "val", ws.settings.home / "people").governance.decide(
            req.id, approve=True, role="validator", comment="validated on holdout"
        )
        ws_as(ws, "risk").governance.decide(
            req.id, approve=True, role="risk_officer", comment="risk accepted"
        )
    return v.ref


def evaluated_model(ws: Workspace, tmp_path: Path, seed: int = 0) -> str:
    """A model version registered by ``eng`` with eval evidence (acc 1) measured by ``val``."""
    v = ws_as(ws, "eng").register_model(
        "chat", make_model_folder(tmp_path / f"m{seed}", bytes([seed]) * 64)
    )
    ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 1})
    return v.ref


def approve_to_production(ws: Workspace, ref: str) -> str:
    """Request production for ``ref`` as ``eng``; ``val`` and ``risk`` approve (by token)."""
    req = ws_as(ws, "eng").governance.request_promotion(ref, to="production")
    ws_as(ws, "val").governance.decide(req.id, approve=True, role="validator", comment="v")
    ws_as(ws, "risk").governance.decide(req.id, approve=True, role="risk_officer", comment="r")
    return req.id
