"""The kit's tiny model, promoted through the approval workflow and packaged as a signed bundle."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.testing import Governed

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
    home: Path
    keys: KeyStore
    request_id: str
    ref: str


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Packaged]:
    """Register, promote (validator + risk officer) and package the kit's tiny model."""
    root = tmp_path_factory.mktemp("serve")
    store = Governed.open(root / "home", entry_points=False, policies={"serve": POLICY})
    eng = store.as_user("eng", "submitter")
    v = eng.register_model("tiny-chat", tiny_model)
    store.ws.as_actor("val").attach_evidence(
        v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9}
    )
    req = eng.governance.request_promotion(v.ref, to="production")
    store.as_user("val", "validator").governance.decide(
        req.id, approve=True, role="validator", comment="holdout ok"
    )
    store.as_user("risk", "risk_officer").governance.decide(
        req.id, approve=True, role="risk_officer", comment="risk accepted"
    )
    keys = KeyStore.for_home(store.ws.settings.home)  # its key attested the token decisions
    info = create_bundle(store.ws, v.ref, root / "bundle", stage="production", keys=keys)
    store.close()
    yield Packaged(
        bundle=info.path, home=store.ws.settings.home, keys=keys, request_id=req.id, ref=v.ref
    )
