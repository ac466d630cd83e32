"""A bundle pinning a registered guard version: approved for its stage, reported when served."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lmops_serve.app import create_app

from lmops_core.errors import PolicyViolationError
from lmops_core.testing import Governed

from .conftest import POLICY, package

GUARD_RULE = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: guard-policy
    rules:
      - name: guard-prod
        applies_to: {asset: guard, transition: production}
        evidence:
          - {kind: guard_probe, max_age: 30d}
        conditions:
          - name: leakage
            expr: evidence.guard_probe.metrics.leakage_rate <= 0.01
            message: personal data gets through
        approvals:
          - {role: validator, count: 1}
        separation_of_duties: true
""")
GUARD = "name: strict-retail\npii: {mode: block, options: {patterns_only: true}}\n"


def test_only_an_approved_guard_version_is_pinned_and_the_service_names_it(
    tmp_path: Path, tiny_model: Path
) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(GUARD, encoding="utf-8")
    policies = {"serve": POLICY, "guards": GUARD_RULE}
    store = Governed.open(tmp_path / "home", policies=policies)
    try:
        eng = store.as_user("eng", "submitter")
        guard = eng.register_guard("retail", path)
        with pytest.raises(
            PolicyViolationError,
            match=rf"guard version {guard.ref} is not approved for production: it is in stage none",
        ):
            package(store, "m", tiny_model, tmp_path / "refused", guard=guard.ref)
        assert not (tmp_path / "refused").exists()
        model = eng.get("model:m@1").ref
        val = store.as_user("val", "validator")
        val.attach_evidence(
            guard.ref,
            kind="guard_probe",
            digest=guard.digest,
            metrics={"leakage_rate": 0.0},
            paired=model,
        )
        request = eng.governance.request_promotion(guard.ref, to="production")
        val.governance.decide(request.id, approve=True, role="validator", comment="probed")
        packaged = package(store, "m", tiny_model, tmp_path / "bundle", guard="retail@1")
        [bundle_evidence] = store.ws.evidence(packaged.ref, kind="bundle")
    finally:
        store.close()
    pin = {"ref": guard.ref, "name": "strict-retail", "digest": guard.digest}
    assert bundle_evidence.details["guard"] == pin
    log = tmp_path / "log.jsonl"
    app = create_app(
        packaged.bundle, public_keys=packaged.keys.public_keys(), guard_config=path, log_path=log
    )
    client = TestClient(app)
    assert client.get("/version").json()["guard"] == pin
    client.post("/v1/generate", json={"prompt": "Tell me about rivers.", "max_new_tokens": 2})
    [row] = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert (row["guard_ref"], row["guard_name"], row["guard_digest"]) == tuple(pin.values())
