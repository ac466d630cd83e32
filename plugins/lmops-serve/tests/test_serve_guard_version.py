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


def _approve(store: Governed, ref: str, digest: str, model: str) -> None:
    """Probe evidence on the guard version (paired with ``model``), then its approval."""
    val = store.as_user("val", "validator")
    val.attach_evidence(
        ref, kind="guard_probe", digest=digest, metrics={"leakage_rate": 0.0}, paired=model
    )
    request = store.as_user("eng", "submitter").governance.request_promotion(ref, to="production")
    val.governance.decide(request.id, approve=True, role="validator", comment="probed")


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
        _approve(store, guard.ref, guard.digest, eng.get("model:m@1").ref)
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


def test_a_guard_version_revoked_while_served_stops_the_service(
    tmp_path: Path, tiny_model: Path
) -> None:
    path = tmp_path / "guard.yaml"
    path.write_text(GUARD, encoding="utf-8")
    store = Governed.open(tmp_path / "home", policies={"serve": POLICY, "guards": GUARD_RULE})
    try:
        guard = store.as_user("eng", "submitter").register_guard("retail", path)
        model = store.as_user("eng", "submitter").register_model("m", tiny_model)
        _approve(store, guard.ref, guard.digest, model.ref)
        packaged = package(store, "m", tiny_model, tmp_path / "bundle", guard=guard.ref)

        def app() -> TestClient:
            return TestClient(
                create_app(
                    packaged.bundle,
                    public_keys=packaged.keys.public_keys(),
                    guard_config=path,
                    store=store.ws,
                )
            )

        client = app()
        body = {"prompt": "Tell me about rivers.", "max_new_tokens": 2}
        assert client.post("/v1/generate", json=body).status_code == 200
        store.as_user("risk", "risk_officer").governance.revoke(
            guard.ref, stage="production", reason="lets card numbers through"
        )
        refused = client.post("/v1/generate", json=body)
        assert refused.status_code == 403
        said = f"guard version {guard.ref} is not approved for production: it is " + (
            "revalidation-required"
        )
        assert said in refused.json()["error"]["message"]
        with pytest.raises(PolicyViolationError, match=said):  # nor can it start again
            app()
    finally:
        store.close()
