"""An ONNX model folder in a bundle is served through ONNX Runtime (lmops-onnx)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from lmops_serve.app import create_app

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.testing import Governed, TinyModels

POLICY = """
apiVersion: lmops/v1
kind: Policy
name: staging-policy
rules:
  - name: staging
    applies_to: {asset: model, transition: staging}
    approvals:
      - {role: validator, count: 1}
"""


def test_onnx_bundle_is_served_with_onnxruntime(
    make_workspace: Callable[..., Governed], tiny_models: TinyModels, tmp_path: Path
) -> None:
    # The onnx kind exists because the plugin whose runtime opens it is loaded.
    store = make_workspace(
        entry_points=False, plugins=["lmops_onnx.plugin"], policies={"p": POLICY}
    )
    eng = store.as_user("eng", "submitter")
    v = eng.register_model("tiny-onnx", tiny_models("onnx"), kind="onnx")
    req = eng.governance.request_promotion(v.ref, to="staging")
    store.as_user("val", "validator").governance.decide(
        req.id, approve=True, role="validator", comment="ok"
    )
    keys = KeyStore.for_home(store.ws.settings.home)  # its key attested the token decisions
    bundle = create_bundle(store.ws, v.ref, tmp_path / "bundle", stage="staging", keys=keys)
    assert (bundle.path / "files" / "model.onnx").is_file()
    client = TestClient(create_app(bundle.path, public_keys=keys.public_keys()))
    assert client.get("/health").json()["engine"] == "onnxruntime"
    r = client.post("/v1/generate", json={"prompt": "Hello", "max_new_tokens": 5})
    assert r.status_code == 200 and r.json()["metrics"]["tokens_out"] > 0
    s = client.post("/v1/generate/stream", json={"prompt": "Hello", "max_new_tokens": 5})
    assert "event: done" in s.text
    assert client.get("/version").json()["stage"] == "staging"
