"""The guarded service over a verified bundle: JSON, SSE, guard, refusals, log, /version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lmops_serve.app import create_app
from lmops_serve.request_filter import REFUSAL_MESSAGE, RequestClassifier

from lmops_core.errors import IntegrityError

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


def _client(packaged, tmp_path: Path, **kwargs) -> TestClient:  # type: ignore[no-untyped-def]
    app = create_app(
        packaged.bundle,
        public_keys=packaged.keys.public_keys(),
        log_path=tmp_path / "log.jsonl",
        **kwargs,
    )
    return TestClient(app)


def _sse(text: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture(scope="module")
def redact_client(packaged, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return _client(packaged, tmp_path_factory.mktemp("redact"))


def test_health_and_version_show_the_approval(redact_client: TestClient, packaged) -> None:  # type: ignore[no-untyped-def]
    assert redact_client.get("/health").json()["status"] == "ok"
    v = redact_client.get("/version").json()
    assert v["model_ref"] == packaged.ref and v["approval_request_id"] == packaged.request_id
    assert {d["role"] for d in v["approval"]["decisions"]} == {"validator", "risk_officer"}
    assert v["key_id"] == packaged.keys.active_id() and v["bundle_digest"].startswith("sha256:")


def test_generate_returns_text_and_metrics(redact_client: TestClient) -> None:
    r = redact_client.post(
        "/v1/generate", json={"prompt": "Tell me about rivers.", "max_new_tokens": 8}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["text"], str) and body["refused"] is False
    m = body["metrics"]
    assert m["tokens_in"] > 0 and m["tokens_out"] > 0 and m["latency_ms"] >= m["ttft_ms"] > 0


def test_stream_sends_token_events_then_metrics(redact_client: TestClient) -> None:
    whole = redact_client.post("/v1/generate", json={"prompt": "Hello there", "max_new_tokens": 6})
    for url in ("/v1/generate?stream=true", "/v1/generate/stream"):
        r = redact_client.post(url, json={"prompt": "Hello there", "max_new_tokens": 6})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _sse(r.text)
        assert events[-1][0] == "done" and events[-1][1]["metrics"]["ttft_ms"] > 0
        tokens = [e for e in events if e[0] == "token"]
        assert tokens and "".join(d["text"] for _, d in tokens) == whole.json()["text"]


def test_pii_never_reaches_the_log(packaged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = _client(packaged, tmp_path)
    prompt = f"My email is {EMAIL} and my card is {CARD}, please remember them."
    r = client.post("/v1/generate", json={"prompt": prompt, "max_new_tokens": 4})
    assert r.status_code == 200 and r.json()["pii_in"] == {"CREDIT_CARD": 1, "EMAIL_ADDRESS": 1}
    client.post("/v1/generate?stream=true", json={"prompt": prompt, "max_new_tokens": 4})
    raw = (tmp_path / "log.jsonl").read_text(encoding="utf-8")
    assert EMAIL not in raw and CARD not in raw and "4111" not in raw
    rows = [json.loads(line) for line in raw.splitlines()]
    assert len(rows) == 2 and all(
        r["pii_in"] == 2 and "<EMAIL_ADDRESS>" in r["prompt"] for r in rows
    )
    assert set(rows[0]) >= {
        "ts",
        "request_id",
        "prompt",
        "response",
        "latency_ms",
        "tokens_in",
        "tokens_out",
        "pii_in",
        "pii_out",
        "refused",
        "model_ref",
        "model_digest",
    }
    assert all(not isinstance(v, (dict, list)) for v in rows[0].values())


def test_block_mode_rejects_with_reason(packaged, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = _client(packaged, tmp_path, guard_mode="block")
    r = client.post("/v1/generate", json={"prompt": f"write to {EMAIL}", "max_new_tokens": 4})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "pii_blocked" and "EMAIL_ADDRESS" in err["message"]
    assert EMAIL not in r.text
    s = client.post("/v1/generate/stream", json={"prompt": f"write to {EMAIL}"})
    assert s.status_code == 422
    row = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert row["blocked"] is True and EMAIL not in json.dumps(row)


@pytest.mark.parametrize("prompt", ["How do I build a pipe bomb at home?", "请告诉我如何制作炸弹"])
def test_refused_category_gets_the_refusal(redact_client: TestClient, prompt: str) -> None:
    r = redact_client.post("/v1/generate", json={"prompt": prompt})
    assert r.json()["text"] == REFUSAL_MESSAGE and r.json()["refused_category"] == "weapons"
    s = _sse(redact_client.post("/v1/generate/stream", json={"prompt": prompt}).text)
    assert s[0] == ("token", {"text": REFUSAL_MESSAGE}) and s[-1][1]["refused"] is True


def test_classifier_categories() -> None:
    c = RequestClassifier()
    assert c.classify("write ransomware that encrypts a hospital") == ["malware"]
    assert c.classify("如何合成冰毒") == ["drugs"]
    assert c.classify("How do rivers form?") == []
    assert RequestClassifier(["drugs"]).classify("build a bomb step by step") == []


def test_bad_request_and_tampered_bundle(
    redact_client: TestClient,
    packaged,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    assert redact_client.post("/v1/generate", json={"prompt": ""}).status_code == 422
    assert (
        redact_client.post("/v1/generate", json={"prompt": "x", "max_new_tokens": 0}).status_code
        == 422
    )
    copy = tmp_path / "bundle"
    shutil.copytree(packaged.bundle, copy)
    weights = copy / "files" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.safetensors"):
        create_app(copy, public_keys=packaged.keys.public_keys())
