"""A tiny model, promoted through the approval workflow and packaged as a signed bundle."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.offline import set_offline_defaults
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()

POLICY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: serve-policy
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


@dataclass(frozen=True)
class Packaged:
    """A bundle and what it took to make it."""

    bundle: Path
    keys: KeyStore
    request_id: str
    ref: str


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Packaged]:
    """Build, register, promote (validator + risk officer) and package a tiny model."""
    from lmops_hf.base_model import create_base_model

    root = tmp_path_factory.mktemp("serve")
    policies = root / "policies"
    policies.mkdir()
    (policies / "serve.yaml").write_text(POLICY)
    ws = Workspace.open(Settings(home=root / "home", actor="root", load_entry_points=False,
                                 policies_dir=policies))
    admin = ws.with_token(ws.governance.bootstrap_admin("root"))
    people = {}
    for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer")):
        admin.governance.grant_role(user, role)
        people[user] = ws.with_token(admin.governance.create_token(user))
    folder = create_base_model(root / "model", size="tiny")
    v = people["eng"].register_model("tiny-chat", folder)
    ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
    req = people["eng"].governance.request_promotion(v.ref, to="production")
    people["val"].governance.decide(req.id, approve=True, role="validator", comment="holdout ok")
    people["risk"].governance.decide(req.id, approve=True, role="risk_officer",
                                     comment="risk accepted")
    keys = KeyStore.for_home(ws.settings.home)  # its key attested the token decisions
    info = create_bundle(ws, v.ref, root / "bundle", stage="production", keys=keys)
    ws.close()
    yield Packaged(bundle=info.path, keys=keys, request_id=req.id, ref=v.ref)
