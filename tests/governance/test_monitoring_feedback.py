"""A monitoring breach acts by policy: signed alert, revalidation, revocation, retrain request."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from lmops_core.governance.monitoring import (
    MonitoringOutcome,
    check_monitoring,
    sign_payload,
    training_requests,
)
from lmops_core.workspace import Workspace
from tests.conftest import VALIDATOR, make_model_folder, model_rule, policy_ws, policy_yaml, ws_as

POLICY = policy_yaml(
    "monitored",
    model_rule("prod", "production", approvals=[VALIDATOR]),
    model_rule(
        "stay-in-production",
        "production",
        event="monitoring",
        evidence=[{"kind": "drift", "max_age": "7d"}],
        conditions=[
            {
                "name": "no-drift",
                "expr": "!evidence.drift.metrics.dataset_drift",
                "message": "the monitoring window shows dataset drift",
            }
        ],
        on_breach=["alert", "revalidation-required", "revoke", "retrain"],
    ),
)


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Any:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _in_production(tmp_path: Path, db_url: str, webhook: str) -> tuple[Workspace, str]:
    ws = policy_ws(
        tmp_path,
        POLICY,
        db_url,
        file="p.yaml",
        actor="root",
        alert_webhook_url=webhook,
        alert_webhook_secret="s3cret",
        # The test receiver listens on loopback: allowed explicitly.
        alert_webhook_allow_networks=["127.0.0.1/32"],
    )
    v = ws_as(ws, "eng").register_model("chat", make_model_folder(tmp_path / "m"))
    req = ws_as(ws, "eng", "submitter").governance.request_promotion(v.ref, to="production")
    ws_as(ws, "val", "validator").governance.decide(
        req.id, approve=True, role="validator", comment="ok"
    )
    return ws, v.ref


def _window(ws: Workspace, ref: str, drifted_share: float) -> MonitoringOutcome:
    """The monitor records a window in which ``drifted_share`` of the columns drifted (any
    share is dataset drift), then the policy's monitoring rule is checked."""
    monitor = ws.as_actor("monitor")
    metrics = {"dataset_drift": drifted_share > 0, "drifted_share": drifted_share}
    digest = ws.get(ref).digest
    monitor.attach_evidence(ref, kind="drift", digest=digest, stage="monitoring", metrics=metrics)
    return check_monitoring(monitor, ref)


def test_drift_breach_revokes_alerts_and_opens_retrain(
    tmp_path: Path, db_url: str, receiver: HTTPServer
) -> None:
    url = f"http://127.0.0.1:{receiver.server_port}/hook"
    ws, ref = _in_production(tmp_path, db_url, url)
    calm = _window(ws, ref, drifted_share=0.0)
    assert not calm.breached and calm.actions == [] and ws.get(ref).stage == "production"
    outcome = _window(ws, ref, drifted_share=0.6)
    assert outcome.breached
    assert outcome.actions == ["alert", "retrain", "revalidation-required", "revoke"]
    version = ws.get(ref)
    assert version.stage is None and version.status == "revalidation-required"
    actions = [e.action for e in ws.audit_events(subject=ref, limit=500)]
    for expected in (
        "monitoring.ok",
        "monitoring.alert",
        "training_request.open",
        "monitoring.revalidation_required",
        "promotion.revoked",
    ):
        assert expected in actions
    revoked = ws.audit_events(action="promotion.revoked")[0]
    assert revoked.actor == "lmops-policy" and "dataset drift" in revoked.after["reason"]
    headers, body = _Receiver.received[0]
    assert headers["X-Lmops-Signature"] == sign_payload("s3cret", body)
    assert json.loads(body)["ref"] == ref
    alerts = (ws.settings.home / "alerts.jsonl").read_text().splitlines()
    assert json.loads(alerts[0])["webhook"] == "HTTP 204"
    assert [r["ref"] for r in training_requests(ws)] == [ref]
    assert ws.verify_audit().ok
