"""An ONNX model folder in a bundle is served through ONNX Runtime (lmops-onnx)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from lmops_onnx.export import export_onnx, load_causal_lm
from lmops_serve.app import create_app

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

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


def test_onnx_bundle_is_served_with_onnxruntime(tmp_path: Path) -> None:
    from lmops_hf.base_model import create_base_model

    base = create_base_model(tmp_path / "base", size="tiny")
    export_onnx(load_causal_lm(base, kind="base"), tmp_path / "onnx", source_kind="base")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yaml").write_text(POLICY)
    ws = Workspace.open(Settings(home=tmp_path / "home", actor="root", load_entry_points=False,
                                 policies_dir=tmp_path / "policies"))
    admin = ws.with_token(ws.governance.bootstrap_admin("root"))
    eng = ws.with_token(admin.governance.create_token("eng", role="submitter"))
    val = ws.with_token(admin.governance.create_token("val", role="validator"))
    v = eng.register_model("tiny-onnx", tmp_path / "onnx", kind="onnx")
    req = eng.governance.request_promotion(v.ref, to="staging")
    val.governance.decide(req.id, approve=True, role="validator", comment="ok")
    keys = KeyStore.for_home(ws.settings.home)  # its key attested the token decisions
    bundle = create_bundle(ws, v.ref, tmp_path / "bundle", stage="staging", keys=keys)
    ws.close()
    assert (bundle.path / "files" / "model.onnx").is_file()
    client = TestClient(create_app(bundle.path, public_keys=keys.public_keys()))
    assert client.get("/health").json()["engine"] == "onnxruntime"
    r = client.post("/v1/generate", json={"prompt": "Hello", "max_new_tokens": 5})
    assert r.status_code == 200 and r.json()["metrics"]["tokens_out"] > 0
    s = client.post("/v1/generate/stream", json={"prompt": "Hello", "max_new_tokens": 5})
    assert "event: done" in s.text
    assert client.get("/version").json()["stage"] == "staging"
