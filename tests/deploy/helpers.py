"""A governed workspace with a model promoted to production, for bundle tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from lmops_core.workspace import Workspace
from tests.conftest import admin_ws, key_ws, make_settings, ws_as

POLICY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: deploy-policy
    rules:
      - name: prod
        applies_to: {asset: model, transition: production}
        evidence:
          - {kind: eval, max_age: 30d}
        conditions:
          - name: accuracy
            expr: evidence.eval.metrics.acc >= 0.5
            message: accuracy below 0.5
        approvals:
          - {role: validator, count: 1}
          - {role: risk_officer, count: 1}
        separation_of_duties: true
""")


def governed_workspace(tmp_path: Path) -> Workspace:
    """A SQLite workspace with a policy folder and the four roles granted."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "deploy.yaml").write_text(POLICY)
    ws = Workspace.open(make_settings(tmp_path / "home", policies_dir=policies, actor="root"))
    admin = admin_ws(ws)
    for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer")):
        admin.governance.grant_role(user, role)
    return admin


def register_and_promote(ws: Workspace, folder: Path, *, name: str = "chat",
                         promote: bool = True) -> str:
    """Register ``folder`` as a model, attach eval evidence, and (optionally) promote it."""
    v = ws_as(ws, "eng").register_model(name, folder)
    ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
    if promote:
        req = ws_as(ws, "eng").governance.request_promotion(v.ref, to="production")
        # The validator signs with a personal key, the risk officer through a token.
        key_ws(ws, "val", ws.settings.home / "people").governance.decide(
            req.id, approve=True, role="validator", comment="validated on holdout")
        ws_as(ws, "risk").governance.decide(req.id, approve=True, role="risk_officer",
                                            comment="risk accepted")
    return v.ref
