"""``GET /api/v1/requests/{id}/report`` answers the HTML page itself when asked for it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lmops_core.api.routes.report import wants_html
from tests.api.conftest import Env

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("", False),
        ("*/*", False),
        ("application/json", False),
        (BROWSER, True),
        ("text/html", True),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.2, text/html;q=0.9", True),
        ("text/html;q=0", False),
        ("text/html;q=oops", False),
        ("text/html, application/json", False),
    ],
)
def test_accept_header_choice(accept: str, html: bool) -> None:
    assert wants_html(accept) is html


def test_report_as_html_or_json(client: TestClient, sqlite_env: Env) -> None:
    ref = sqlite_env.model(acc=0.8)
    created = sqlite_env.request(client, ref)
    url = f"/api/v1/requests/{created.json()['id']}/report"
    page = client.get(url, headers={**sqlite_env.auth("view"), "Accept": BROWSER})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!DOCTYPE html>") and f"Validation report: {ref}" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert str(sqlite_env.tmp) not in page.text
    body = client.get(url, headers=sqlite_env.auth("view")).json()
    assert body["ref"] == ref and body["html"] == page.text
    refused = client.get(url, headers={"Accept": BROWSER})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
