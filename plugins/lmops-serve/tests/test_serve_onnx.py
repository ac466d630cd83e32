"""An ONNX model folder in a bundle is served through ONNX Runtime (lmops-onnx)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from lmops_serve.app import create_app

from lmops_core.testing import TinyModels


def test_onnx_bundle_is_served_with_onnxruntime(
    package_model: Callable[..., Any], tiny_models: TinyModels
) -> None:
    # The onnx kind exists because the plugin whose runtime opens it is loaded.
    packaged = package_model(tiny_models("onnx"), kind="onnx", plugins=["lmops_onnx.plugin"])
    assert (packaged.bundle / "files" / "model.onnx").is_file()
    client = TestClient(create_app(packaged.bundle, public_keys=packaged.keys.public_keys()))
    assert client.get("/health").json()["engine"] == "onnxruntime"
    r = client.post("/v1/generate", json={"prompt": "Hello", "max_new_tokens": 5})
    assert r.status_code == 200 and r.json()["metrics"]["tokens_out"] > 0
    s = client.post("/v1/generate/stream", json={"prompt": "Hello", "max_new_tokens": 5})
    assert "event: done" in s.text
    assert client.get("/version").json()["stage"] == "production"
