"""The report over the admin API (viewer and above) and the ``lmops report`` command."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from lmops_core.cli.report_cmds import register
from lmops_core.reports import render_report
from tests.conftest import admin_ws
from tests.reports.conftest import CARD, EMAIL, Store


@pytest.fixture
def client(store: Store) -> TestClient:
    return TestClient(create_app(store.ws, api_settings=ApiSettings(allowed_hosts=["testserver"])))


def _token(store: Store, user: str, role: str) -> dict[str, str]:
    token = admin_ws(store.ws).governance.create_token(user, role=role)
    return {"Authorization": f"Bearer {token}"}


def test_viewer_gets_the_report_of_a_request(store: Store, client: TestClient) -> None:
    url = f"/api/v1/requests/{store.request_id}/report"
    r = client.get(url, headers=_token(store, "reader", "viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ref"] == store.candidate and body["target_stage"] == "production"
    assert body["digest"] == render_report(store.ws, store.candidate).digest
    assert "## Approval trail" in body["markdown"] and "<h2>Approval trail</h2>" in body["html"]
    assert EMAIL not in r.text and CARD not in r.text


def test_report_route_needs_a_token_and_a_real_request(store: Store, client: TestClient) -> None:
    url = f"/api/v1/requests/{store.request_id}/report"
    assert client.get(url).status_code == 401
    bad = {"Authorization": "Bearer lmops_deadbeef_notasecret"}
    assert client.get(url, headers=bad).status_code == 401
    missing = client.get(
        "/api/v1/requests/" + "0" * 32 + "/report", headers=_token(store, "reader", "viewer")
    )
    assert missing.status_code == 404


def test_cli_writes_both_formats_and_prints_the_digest(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = store.ws.settings
    monkeypatch.setenv("LMOPS_HOME", str(settings.home))
    monkeypatch.setenv("LMOPS_POLICIES_DIR", str(settings.policies_dir))
    monkeypatch.setenv("LMOPS_LOAD_ENTRY_POINTS", "false")
    # The same plugins as the store's workspace: their report sections are in the digest.
    monkeypatch.setenv("LMOPS_PLUGINS", ",".join(settings.plugins))
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    register(app)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["report", store.candidate, "--out", str(out)])
    assert result.exit_code == 0, result.output
    html, md = out / "report-chat-2.html", out / "report-chat-2.md"
    assert html.is_file() and md.is_file()
    digest = render_report(store.ws, store.candidate).digest
    assert f"digest {digest}" in result.output and str(html) in result.output
    assert md.read_text(encoding="utf-8") == render_report(store.ws, store.candidate).markdown

    only_md = CliRunner().invoke(
        app, ["report", store.production, "--out", str(out), "--format", "md"]
    )
    assert only_md.exit_code == 0, only_md.output
    assert (out / "report-chat-1.md").is_file() and not (out / "report-chat-1.html").exists()
