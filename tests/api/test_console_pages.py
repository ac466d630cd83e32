"""The review console over HTTP (no browser): sessions, CSRF, role rules and the pages."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from lmops_core.api.security import PUBLIC, routes_of
from lmops_core.api.sessions import SESSION_COOKIE
from lmops_core.governance.monitoring import check_monitoring
from lmops_core.registry.models import utcnow
from tests.api.conftest import Env, build_env
from tests.conftest import make_model_folder, policy_yaml, token_for, write_jsonl
from tests.reports.conftest import CARD, EMAIL, Store, store  # noqa: F401 - the fixture

MISSING = "0" * 32
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "no form with a CSRF token on the page"
    return match[1]


def sign_in(c: TestClient, token: str, user: str) -> str:
    """Sign ``user`` in with ``token`` through the form; the session's CSRF token."""
    form = c.get("/console/sign-in")
    assert form.status_code == 200
    r = c.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "next": "/console", "token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = c.get("/console")
    assert page.status_code == 200 and f'id="signed-in-as">{user}<' in page.text
    return csrf_of(page.text)


def request_for(c: TestClient, env: Env, acc: float = 0.8) -> str:
    """A pending production request of a fresh model version, made by ``sub``."""
    ref = env.model(acc=acc)
    r = env.request(c, ref)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _console_routes(c: TestClient) -> list[tuple[str, str]]:
    out = []
    registry = c.app.state.access  # type: ignore[attr-defined]
    for ctx in routes_of(c.app.routes):  # type: ignore[attr-defined]
        path = str(ctx.path)
        if not path.startswith("/console") or registry.rule_of(ctx) is PUBLIC:
            continue
        for method in sorted(ctx.methods or ()):
            if method != "HEAD":
                out.append((method, path))
    return out


def _fill(path: str) -> str:
    return (
        path.replace("{request_id}", MISSING)
        .replace("{evidence_id}", "1")
        .replace("{name}", "x")
        .replace("{asset_type}", "model")
        .replace("{review_id}", MISSING)
    )


def test_every_console_route_refuses_without_a_session(client: TestClient, sqlite_env: Env) -> None:
    routes = _console_routes(client)
    # Every page and form of the console is here (a new one is covered by this test).
    assert {p for _, p in routes} >= {
        "/console",
        "/console/inventory",
        "/console/requests/{request_id}",
        "/console/requests/{request_id}/decide",
        "/console/requests/{request_id}/report",
        "/console/sign-out",
        "/console/assets/{asset_type}/{name}",
        "/console/reviews",
        "/console/reviews/{review_id}",
        "/console/reviews/{review_id}/decide",
        "/console/reviews/{review_id}/finish",
    }
    bearer = sqlite_env.auth("root-admin")  # a bearer token is no console session
    for method, path in routes:
        for headers in ({}, bearer, {"Cookie": f"{SESSION_COOKIE}=forged"}):
            r = client.request(
                method,
                _fill(path),
                headers=headers,
                follow_redirects=False,
                data={"csrf": "x"} if method == "POST" else None,
            )
            assert r.status_code == 303, (method, path, r.status_code)
            assert r.headers["location"].startswith("/console/sign-in"), (method, path)


def test_sign_in_sets_a_strict_http_only_session_cookie(
    client: TestClient, sqlite_env: Env
) -> None:
    form = client.get("/console/sign-in")
    assert "Content-Security-Policy" in form.headers
    r = client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "next": "/console", "token": sqlite_env.tokens["risk"]},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE)
    )
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")}
    assert {"httponly", "max-age", "path"} <= attrs
    assert "samesite=strict" in cookie.lower()
    assert sqlite_env.tokens["risk"] not in cookie  # the token stays on the server


def test_sign_in_refuses_bad_tokens_forged_forms_and_open_redirects(
    client: TestClient, sqlite_env: Env
) -> None:
    form = client.get("/console/sign-in")
    bad = client.post(
        "/console/sign-in", data={"csrf": csrf_of(form.text), "token": "lmops_deadbeef_nope"}
    )
    assert bad.status_code == 401 and "not valid" in bad.text
    client.cookies.clear()  # a forged form has no sign-in cookie
    forged = client.post(
        "/console/sign-in", data={"csrf": "guess", "token": sqlite_env.tokens["risk"]}
    )
    assert forged.status_code == 403 and SESSION_COOKIE not in forged.cookies
    form = client.get("/console/sign-in")
    away = client.post(
        "/console/sign-in",
        data={
            "csrf": csrf_of(form.text),
            "next": "//evil.example/x",
            "token": sqlite_env.tokens["risk"],
        },
        follow_redirects=False,
    )
    assert away.headers["location"] == "/console"
    json_body = client.post("/console/sign-in", json={"token": sqlite_env.tokens["risk"]})
    assert json_body.status_code == 422


def test_reviewer_approves_through_the_signed_decision_path(env: Env) -> None:
    with TestClient(env.app) as c:
        first = request_for(c, env)
        ok = c.post(
            f"/api/v1/requests/{first}/approve",
            headers=env.auth("val"),
            json={"role": "validator", "comment": "validated on holdout"},
        )
        assert ok.status_code == 200
        csrf = sign_in(c, env.tokens["risk"], "risk")
        inbox = c.get("/console")
        assert f"/console/requests/{first}" in inbox.text and "risk_officer ×1" in inbox.text
        page = c.get(f"/console/requests/{first}")
        assert page.status_code == 200 and 'id="decision-form"' in page.text
        assert "evidence.eval.metrics.acc &gt;= 0.5" in page.text and "eval.acc = 0.8" in page.text
        empty = c.post(
            f"/console/requests/{first}/decide",
            data={"csrf": csrf, "decision": "approve", "role": "risk_officer", "comment": "  "},
        )
        assert empty.status_code == 422 and "comment" in empty.text
        done = c.post(
            f"/console/requests/{first}/decide",
            data={
                "csrf": csrf,
                "decision": "approve",
                "role": "risk_officer",
                "comment": "risk accepted",
            },
            follow_redirects=False,
        )
        assert done.status_code == 303
        shown = c.get(done.headers["location"])
        assert 'id="request-status">approved<' in shown.text
        assert 'id="version-stage">production<' in shown.text
        detail = c.get(f"/api/v1/requests/{first}", headers=env.auth("view")).json()
        by_role = {d["role"]: d for d in detail["decisions"]}
        # The console's decision is the JSON API's: same authentication, same signature.
        assert by_role["risk_officer"]["auth_method"] == by_role["validator"]["auth_method"]
        assert by_role["risk_officer"]["signature"] and by_role["risk_officer"]["statement"]
        assert env.ws.verify_decisions().ok
        again = c.post(
            f"/console/requests/{first}/decide",
            data={"csrf": csrf, "decision": "reject", "role": "risk_officer", "comment": "late"},
        )
        assert again.status_code == 409 and "not pending" in again.text


def test_viewer_sees_no_controls_and_forged_posts_are_refused(
    client: TestClient, sqlite_env: Env
) -> None:
    req = request_for(client, sqlite_env)
    csrf = sign_in(client, sqlite_env.tokens["view"], "view")
    page = client.get(f"/console/requests/{req}")
    assert page.status_code == 200
    assert 'id="decision-form"' not in page.text and "may read but not decide" in page.text
    forged = client.post(
        f"/console/requests/{req}/decide",
        data={"csrf": csrf, "decision": "approve", "role": "risk_officer", "comment": "sneaky"},
    )
    assert forged.status_code == 403 and "Refused" in forged.text
    client.cookies.clear()
    csrf = sign_in(client, sqlite_env.tokens["risk"], "risk")
    no_csrf = client.post(
        f"/console/requests/{req}/decide",
        data={"decision": "approve", "role": "risk_officer", "comment": "x"},
    )
    wrong = client.post(
        f"/console/requests/{req}/decide",
        data={"csrf": csrf[::-1], "decision": "approve", "role": "risk_officer", "comment": "x"},
    )
    cross = client.post(
        f"/console/requests/{req}/decide",
        headers={"Origin": "http://evil.example"},
        data={"csrf": csrf, "decision": "approve", "role": "risk_officer", "comment": "x"},
    )
    assert [r.status_code for r in (no_csrf, wrong, cross)] == [403, 403, 403]
    detail = client.get(f"/api/v1/requests/{req}", headers=sqlite_env.auth("view")).json()
    assert detail["decisions"] == [] and detail["status"] == "pending"


def test_requester_and_author_get_no_decision_form(client: TestClient, sqlite_env: Env) -> None:
    req = request_for(client, sqlite_env)
    # A validator, but it authored the version.
    sign_in(client, sqlite_env.tokens["author"], "author")
    page = client.get(f"/console/requests/{req}")
    assert 'id="decision-form"' not in page.text and "authored this version" in page.text
    assert f"/console/requests/{req}" not in client.get("/console").text  # not "mine"
    assert f"/console/requests/{req}" in client.get("/console", params={"scope": "all"}).text


def test_expired_session_and_sign_out_go_back_to_sign_in(
    client: TestClient, sqlite_env: Env
) -> None:
    csrf = sign_in(client, sqlite_env.tokens["risk"], "risk")
    out = client.post("/console/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert client.get("/console", follow_redirects=False).status_code == 303
    sign_in(client, sqlite_env.tokens["risk"], "risk")
    sessions = client.app.state.console_sessions  # type: ignore[attr-defined]
    sessions.clock = lambda: utcnow() + sessions.ttl + timedelta(seconds=1)
    r = client.get("/console/inventory", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/sign-in?next=%2Fconsole%2Finventory"


def test_revoking_the_token_ends_the_session(client: TestClient, sqlite_env: Env) -> None:
    sign_in(client, sqlite_env.tokens["risk"], "risk")
    token_id = sqlite_env.tokens["risk"].split("_")[1]
    sessions = client.app.state.console_sessions  # type: ignore[attr-defined]
    assert len(sessions) == 1
    sqlite_env.ws.with_token(sqlite_env.tokens["root-admin"]).governance.revoke_token(token_id)
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert len(sessions) == 0  # the session's row is gone, for every server process


def test_sessions_live_in_the_store_never_the_token_in_clear(
    client: TestClient, sqlite_env: Env
) -> None:
    sign_in(client, sqlite_env.tokens["risk"], "risk")
    session_id = client.cookies[SESSION_COOKIE]
    token = sqlite_env.tokens["risk"]
    with sqlite_env.ws.db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM console_sessions").all()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert token not in stored and token.split("_")[2] not in stored
    assert session_id not in stored and token.split("_")[1] in stored  # the token's id only
    # A second app on the same store (another server process) honours the session...
    other = create_app(sqlite_env.ws, api_settings=ApiSettings(allowed_hosts=["testserver"]))
    with TestClient(other) as second:
        second.cookies.set(SESSION_COOKIE, session_id, path="/console")
        page = second.get("/console")
        assert page.status_code == 200 and 'id="signed-in-as">risk<' in page.text
        # ...and a sign-out through it ends the session in the first one at once.
        out = second.post("/console/sign-out", data={"csrf": csrf_of(page.text)})
        assert out.status_code == 200 and "sign-in" in str(out.url)
    assert client.get("/console", follow_redirects=False).status_code == 303


def _ok(r: Response) -> str:
    assert r.status_code == 200, r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    return r.text


def test_a_session_is_read_once_per_access_generation_and_any_delete_ends_it(env: Env) -> None:
    with TestClient(env.app) as client:
        sign_in(client, env.tokens["risk"], "risk")
        sessions = client.app.state.console_sessions  # type: ignore[attr-defined]
        reads = sessions.reads
        for _ in range(3):
            assert client.get("/console").status_code == 200
        assert sessions.reads == reads  # from memory: the access generation did not move
        # A new request moves the store's generation, not the access one: the session stays
        # cached and the inbox shows the request at once.
        req = request_for(client, env)
        assert f"/console/requests/{req}" in _ok(client.get("/console"))
        assert sessions.reads == reads
        # A row deleted by plain SQL (no server code involved) ends the session at once: the
        # trigger of revision 0017 moves the access generation every process reads.
        with env.ws.db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM console_sessions")
        assert client.get("/console", follow_redirects=False).status_code == 303
        assert sessions.reads == reads + 1


def test_inventory_and_pages_for_datasets_and_prompts(client: TestClient, sqlite_env: Env) -> None:
    ref = sqlite_env.model(acc=0.8)
    author = sqlite_env.as_user("author")
    data = write_jsonl(sqlite_env.tmp / "d.jsonl", [{"prompt": "2+2?", "response": "4"}])
    author.register_dataset("support", data, shape="instruction")
    author.create_prompt("greet", "Hello {name}", description="a greeting")
    sign_in(client, sqlite_env.tokens["view"], "view")
    inventory = _ok(client.get("/console/inventory"))
    for link in (
        "/console/assets/model/chat",
        "/console/assets/dataset/support",
        "/console/assets/prompt/greet",
    ):
        assert link in inventory
        assert "@1" in _ok(client.get(link))
    assert "acc = 0.8" in _ok(client.get("/console/assets/model/chat"))
    assert ref in _ok(client.get("/console/assets/model/chat"))
    missing = client.get("/console/assets/dataset/nope")
    assert missing.status_code == 404 and "does not exist" in missing.text
    assert client.get("/console/assets/widget/x").status_code == 422


def test_report_is_served_framable_only_by_the_console(client: TestClient, sqlite_env: Env) -> None:
    req = request_for(client, sqlite_env)
    sign_in(client, sqlite_env.tokens["val"], "val")
    r = client.get(f"/console/requests/{req}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'self'" in r.headers["content-security-policy"]
    assert "<h1>" in r.text and str(sqlite_env.tmp) not in r.text


@pytest.mark.parametrize("path", ["/", "/console/"])
def test_root_leads_to_the_console(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and 'id="sign-in"' in r.text


def test_request_page_shows_lineage_comparison_and_no_raw_data(store: Store) -> None:  # noqa: F811 - the reports' store fixture
    from sqlalchemy import event

    from lmops_core.api.console import views

    app = create_app(store.ws, api_settings=ApiSettings(allowed_hosts=["testserver"]))
    token = token_for(store.ws, "risk2", "risk_officer")
    reader = store.ws.with_token(token)
    principal = reader.governance.authenticate(token)
    checkouts: list[object] = []

    def count(*args: object) -> None:
        checkouts.append(args)

    event.listen(store.ws.db.engine, "checkout", count)
    view = views.request_view(reader, principal, store.request_id)
    event.remove(store.ws.db.engine, "checkout", count)
    # Every read of the page (request, version, evidence, lineage, audit) in one transaction.
    assert len(checkouts) == 1 and view.lineage and view.evidence and view.audit
    # The route reads through the served workspace (not one acting as the user): the same
    # view but the time left, which moves with the clock.
    served = views.request_view(store.ws, principal, store.request_id)
    assert replace(served, time_left="") == replace(view, time_left="")
    with TestClient(app) as c:
        sign_in(c, token, "risk2")
        page = c.get(f"/console/requests/{store.request_id}")
        assert page.status_code == 200
        html = page.text
        assert '<figure class="lineage" id="lineage-graph"><svg' in html
        assert store.redacted in html and store.dataset in html
        # Beside the version now in production: 0.8 against 0.7, measured the same way.
        assert f"Now in production: <strong>{store.production}</strong>" in html
        assert re.search(r"<td>acc</td><td>0\.8</td><td>0\.7</td><td>(better|changed)</td>", html)
        assert EMAIL not in html and CARD not in html


def test_evidence_artifacts_open_sandboxed_from_the_request_page(
    client: TestClient, sqlite_env: Env
) -> None:
    req = request_for(client, sqlite_env)
    ref = client.get(f"/api/v1/requests/{req}", headers=sqlite_env.auth("view")).json()["ref"]
    page_file = sqlite_env.tmp / "explained.html"
    page_file.write_text("<html><script>alert(1)</script><p>token attributions</p></html>")
    record = sqlite_env.ws.as_actor("val").attach_evidence(
        ref,
        kind="explanation",
        digest=sqlite_env.ws.get(ref).digest,
        metrics={"top": 0.4},
        files={"report.html": page_file},
    )
    other = sqlite_env.model(acc=0.8)  # evidence of another version is not this request's
    foreign = sqlite_env.ws.as_actor("val").attach_evidence(
        other,
        kind="explanation",
        digest=sqlite_env.ws.get(other).digest,
        metrics={},
        files={"report.html": page_file},
    )
    sign_in(client, sqlite_env.tokens["view"], "view")
    link = f"/console/requests/{req}/evidence/{record.id}/report.html"
    assert f'href="{link}"' in client.get(f"/console/requests/{req}").text
    served = client.get(link)
    assert served.status_code == 200 and "token attributions" in served.text
    assert served.headers["content-type"].startswith("text/html")
    # Plugin output runs in a sandbox of its own: no script, not our origin.
    assert served.headers["content-security-policy"].startswith("sandbox;")
    assert served.headers["x-content-type-options"] == "nosniff"
    for wrong in (
        f"/console/requests/{req}/evidence/{record.id}/other.html",
        f"/console/requests/{req}/evidence/{foreign.id}/report.html",
    ):
        r = client.get(wrong)
        assert r.status_code == 404 and "has no artifact" in r.text


_AUDIT_ROW = re.compile(
    r"<tr><td>(\d+)</td><td>[^<]*</td><td>([^<]*)</td><td class=\"action\">([^<]*)</td>"
    r"<td>([^<]*)</td></tr>"
)


def audit_trail(html: str) -> list[tuple[str, str, str]]:
    """``(actor, action, detail)`` of each row of a request page's audit trail."""
    table = html[html.index('<table id="audit">') :]
    table = table[: table.index("</table>")]
    return [
        (actor, action, unescape(detail)) for _, actor, action, detail in _AUDIT_ROW.findall(table)
    ]


def test_request_page_audit_trail_is_that_of_the_request(env: Env) -> None:
    """Two requests for one version: each page lists only the events about its own request."""
    ref = env.model(acc=0.8)
    with TestClient(env.app) as c:

        def ask() -> str:
            r = env.request(c, ref)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        def decide(rid: str, user: str, role: str, verb: str, comment: str) -> None:
            r = c.post(
                f"/api/v1/requests/{rid}/{verb}",
                headers=env.auth(user),
                json={"role": role, "comment": comment},
            )
            assert r.status_code == 200, r.text

        first = ask()
        decide(first, "val", "validator", "reject", "holdout too small")
        second = ask()
        decide(second, "val", "validator", "approve", "validated on the new holdout")
        decide(second, "risk", "risk_officer", "approve", "risk accepted")
        sign_in(c, env.tokens["view"], "view")
        assert audit_trail(c.get(f"/console/requests/{first}").text) == [
            ("sub", "promotion.request", f"snapshot_digest: {_digest(env, first)}; to: production"),
            ("val", "approval.reject", "comment: holdout too small; role: validator"),
            ("val", "promotion.rejected", "by: val"),
        ]
        assert audit_trail(c.get(f"/console/requests/{second}").text) == [
            (
                "sub",
                "promotion.request",
                f"snapshot_digest: {_digest(env, second)}; to: production",
            ),
            ("val", "approval.approve", "comment: validated on the new holdout; role: validator"),
            ("risk", "approval.approve", "comment: risk accepted; role: risk_officer"),
            ("risk", "promotion.complete", "stage: production"),
        ]
        # The JSON API filters the same way.
        events = c.get(
            "/api/v1/audit/events",
            params={"subject": ref, "request_id": first},
            headers=env.auth("view"),
        ).json()
        assert [e["action"] for e in events] == [
            "promotion.request",
            "approval.reject",
            "promotion.rejected",
        ]
        # The version has more events than its requests: its creation and its evidence.
        everything = [e.action for e in env.ws.audit_events(subject=ref, limit=1000)]
        assert len(everything) > 7 and everything[0].endswith("version.create")


def _digest(env: Env, request_id: str) -> str:
    return env.ws.governance.get_request(request_id).snapshot_digest


MONITORED = policy_yaml(
    "monitored",
    """
    - name: prod
      applies_to: {asset: model, transition: production}
      approvals: [{role: validator, count: 1}]
    - name: staging
      applies_to: {asset: model, transition: staging}
      approvals: [{role: validator, count: 1}]
    - name: watch-production
      applies_to: {asset: model, transition: production, event: monitoring}
      evidence: [{kind: drift}]
      conditions:
        - {name: no-drift, expr: "!evidence.drift.metrics.dataset_drift", message: drifted}
      on_breach: [alert]
    - name: watch-staging
      applies_to: {asset: model, transition: staging, event: monitoring}
      evidence: [{kind: drift}]
      conditions:
        - {name: no-drift, expr: "!evidence.drift.metrics.dataset_drift", message: drifted}
      on_breach: [revalidation-required]
    """,
)


def test_inventory_lists_each_assets_open_alerts(tmp_path: Path) -> None:
    env = build_env(tmp_path, None, MONITORED)
    try:
        author, sub = env.as_user("author"), env.as_user("sub").governance
        val = env.as_user("val").governance

        def staged(name: str, stage: str) -> str:
            ref = author.register_model(name, make_model_folder(tmp_path / name)).ref
            req = sub.request_promotion(ref, to=stage)
            val.decide(req.id, approve=True, role="validator", comment="ok")
            return ref

        def monitored(ref: str, drifted: bool) -> None:
            monitor = env.ws.as_actor("monitor")
            monitor.attach_evidence(
                ref,
                kind="drift",
                digest=env.ws.get(ref).digest,
                stage="monitoring",
                metrics={"dataset_drift": drifted, "drifted_share": 0.8 if drifted else 0.1},
            )
            assert check_monitoring(monitor, ref).breached is drifted

        breached, calm, stale = staged("chat", "production"), staged("calm", "production"), ""
        monitored(breached, True)
        monitored(calm, True)
        monitored(calm, False)  # checked fine since: no longer an alert
        stale = staged("old", "staging")
        monitored(stale, True)  # the staging rule requires revalidation
        pending = sub.request_promotion(
            author.register_model("chat", make_model_folder(tmp_path / "chat2", b"2" * 64)).ref,
            to="production",
        )
        with TestClient(env.app) as c:
            sign_in(c, env.tokens["view"], "view")
            page = _ok(c.get("/console/inventory"))
        assert "<th>Alerts</th>" in page

        def alerts(name: str) -> str:
            cell = re.search(rf'id="alerts-model-{name}">(.*?)</td>', page, re.S)
            assert cell, name
            return unescape(re.sub(r"<[^>]+>", " ", cell[1]))

        chat = alerts("chat")
        assert "@1 monitoring breach: watch-production/no-drift: fail: drifted" in chat
        assert "@2 awaits approval to production" in chat
        assert f'href="/console/requests/{pending.id}"' in page
        assert alerts("calm").split() == ["none"]
        assert "@1 revalidation required" in alerts("old")
        assert "breach" not in alerts("old")  # out of its stage: no longer monitored
    finally:
        env.ws.close()


def test_inbox_pages_oldest_first_with_counts(
    client: TestClient, sqlite_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmops_core.api.console import views

    monkeypatch.setattr(views, "INBOX_PAGE", 2)
    made = [request_for(client, sqlite_env) for _ in range(5)]
    sign_in(client, sqlite_env.tokens["risk"], "risk")

    def listed(html: str) -> list[str]:
        return [rid for rid in re.findall(r'href="/console/requests/([0-9a-f]+)"', html)]

    first = _ok(client.get("/console"))
    assert listed(first) == made[:2]
    assert "1–2 of 5 you can decide (5 pending in all)" in first
    assert 'id="page-of">page 1 of 3<' in first
    assert 'href="/console?scope=mine&amp;asset_type=&amp;target_stage=&amp;page=2"' in first
    second = _ok(client.get("/console", params={"scope": "mine", "page": 2}))
    assert listed(second) == made[2:4] and "3–4 of 5" in second
    # Past the end is the last page; the last page holds the rest.
    last = _ok(client.get("/console", params={"page": 99}))
    assert listed(last) == made[4:] and 'id="page-of">page 3 of 3<' in last
    assert 'id="page-next"' not in last and 'id="page-prev"' in last
    # The author of every version may decide none of them: an empty "mine", all five in "all".
    client.cookies.clear()
    sign_in(client, sqlite_env.tokens["author"], "author")
    mine = _ok(client.get("/console"))
    assert listed(mine) == [] and "0 you can decide (5 pending in all)" in mine
    everything = _ok(client.get("/console", params={"scope": "all", "page": 3}))
    assert listed(everything) == made[4:] and "5–5 of 5" in everything
    assert client.get("/console", params={"page": 0}).status_code == 422


def test_a_cached_page_carries_each_sessions_own_csrf_token(
    client: TestClient, sqlite_env: Env
) -> None:
    req = request_for(client, sqlite_env)
    tokens = []
    for _ in range(2):
        client.cookies.clear()
        sign_in(client, sqlite_env.tokens["risk"], "risk")
        session = client.cookies[SESSION_COOKIE]
        sessions = client.app.state.console_sessions  # type: ignore[attr-defined]
        page = _ok(client.get(f"/console/requests/{req}"))
        assert csrf_of(page) == sessions.get(session).csrf
        tokens.append(csrf_of(page))
    assert tokens[0] != tokens[1]
    # The page was computed once for both sessions: the store did not move.
    pages = client.app.state.console_pages  # type: ignore[attr-defined]
    assert pages.hits >= 1
    # A decision moves the store: the next read shows it.
    done = client.post(
        f"/console/requests/{req}/decide",
        data={"csrf": tokens[1], "decision": "reject", "role": "risk_officer", "comment": "no"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert 'id="request-status">rejected<' in _ok(client.get(f"/console/requests/{req}"))


def test_prompt_request_page_shows_system_prompt_and_target_model(
    client: TestClient, sqlite_env: Env
) -> None:
    model = sqlite_env.model(acc=0.8)
    prompt = sqlite_env.as_user("author").create_prompt(
        "answer",
        "Answer: {question}",
        system_prompt="You are the bank's <careful> assistant.",
        target_model=model,
    )
    rule = (
        "- name: prompts\n  applies_to: {asset: prompt, transition: production}\n"
        "  approvals:\n    - {role: validator, count: 1}"
    )
    (sqlite_env.policy_file.parent / "prompts.yaml").write_text(policy_yaml("prompts", rule))
    req = sqlite_env.as_user("sub").governance.request_promotion(prompt.ref, to="production")
    sign_in(client, sqlite_env.tokens["view"], "view")
    page = _ok(client.get(f"/console/requests/{req.id}"))
    assert f'id="prompt-target">{model}<' in page
    assert "You are the bank&#39;s &lt;careful&gt; assistant." in page  # escaped, not markup
    assert "Answer: {question}" in page
    plain = _ok(client.get(f"/console/requests/{request_for(client, sqlite_env)}"))
    assert 'id="prompt"' not in plain


def test_inbox_rows_compose_their_cells_from_the_queue() -> None:
    from lmops_core.api.console import views
    from lmops_core.governance.schemas import Principal
    from lmops_core.governance.views import QueuedRequest

    now = utcnow()

    def queued(rid: str, so_far: dict[str, int]) -> QueuedRequest:
        return QueuedRequest(
            rid, "model", f"model:chat/x@{len(rid)}", "production", "eng", now - timedelta(hours=2),
            now + timedelta(days=1), {"validator": 1, "risk_officer": 2}, so_far, True, "eng",
            "high", "chat/x", len(rid),
        )  # fmt: skip

    queue = [queued("a/b", {}), queued("c", {"validator": 1, "risk_officer": 2})]
    reviewer = Principal(user="val", roles=frozenset({"validator", "risk_officer"}))
    listed = views.inbox_queue(queue, reviewer, scope="all", asset_type="", target_stage="")
    first, done = views.inbox_page(listed, 1).rows
    assert (first.asset, first.version, first.link) == ("chat/x", 3, "a%2Fb")
    assert first.missing_text == "validator ×1, risk_officer ×2"
    assert first.roles_text == "validator, risk_officer" and first.age == "2h 0m"
    assert (done.missing_text, done.roles_text) == ("none", "— (read only)")


def test_inbox_rows_html_escapes_every_cell() -> None:
    from lmops_core.api.console import views
    from lmops_core.governance.schemas import Principal
    from lmops_core.governance.views import QueuedRequest

    now = utcnow()
    hostile = QueuedRequest(
        "r<1>", "model", "model:x@1", "stage\"'", "<b>eng</b>", now - timedelta(hours=2),
        now + timedelta(days=1), {"validator": 1}, {}, True, "a&b",
        '"><script>', "<i>chat</i>", 1,
    )  # fmt: skip
    plain = QueuedRequest(
        "r2", "model", "model:chat@2", "production", "eng", now, now + timedelta(days=1),
        {"validator": 1}, {"validator": 1}, True, "eng", "high", "chat", 2,
    )  # fmt: skip
    viewer = Principal(user="view", roles=frozenset({"viewer"}))
    listed = views.inbox_queue(
        [hostile, plain], viewer, scope="all", asset_type="", target_stage=""
    )
    html = str(views.inbox_page(listed, 1).rows_html)
    assert html.count("<tr ") == 2 and html.count("</tr>") == 2
    assert "<b>" not in html and "<i>" not in html and "<script>" not in html
    assert '<a href="/console/requests/r%3C1%3E">model &lt;i&gt;chat&lt;/i&gt;</a>' in html
    assert '<span class="tier tier-&#34;&gt;&lt;script&gt;">' in html
    assert "<td>stage&#34;&#39;</td>" in html and "<td>&lt;b&gt;eng&lt;/b&gt;</td>" in html
    assert '<tr class="readonly">' in html and "<td>— (read only)</td>" in html


def test_inbox_cells_written_unescaped_need_no_escaping() -> None:
    """The inbox rows write ages, times left, links and version numbers as they are:
    escaping would leave each of them unchanged."""
    from markupsafe import escape

    from lmops_core.api.console import views

    spans = [timedelta(seconds=s) for s in (-3600, -1, 0, 59, 60, 3599, 3600, 86399, 86400)]
    spans += [
        timedelta(days=d, hours=h, minutes=m) for d in (0, 3, 400) for h in (0, 5) for m in (0, 7)
    ]
    for span in spans:
        text = views.duration(span)
        assert str(escape(text)) == text
    now = utcnow()

    def queued(rid: str) -> Any:
        from lmops_core.governance.views import QueuedRequest

        return QueuedRequest(
            rid, "model", "model:chat@12", "production", "eng", now - timedelta(hours=2),
            now + timedelta(days=1), {"validator": 1}, {}, True, "eng", "high", "chat", 12,
        )  # fmt: skip

    from lmops_core.governance.schemas import Principal

    viewer = Principal(user="view", roles=frozenset({"viewer"}))
    ids = ["0f3be4d", "a&b", "<x>", "'\"", "é/ü %"]
    listed = views.inbox_queue(
        [queued(r) for r in ids], viewer, scope="all", asset_type="", target_stage=""
    )
    for row in views.inbox_page(listed, 1).rows:
        assert str(escape(row.link)) == row.link == quote(row.request.id, safe="")


def test_a_page_is_built_on_the_event_loop_on_sqlite_and_in_a_worker_on_postgres(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from lmops_core.api.console import views

    built_on: list[threading.Thread] = []
    read = views.request_view

    def recorded(*args: Any, **kwargs: Any) -> Any:
        built_on.append(threading.current_thread())
        return read(*args, **kwargs)

    monkeypatch.setattr(views, "request_view", recorded)
    with TestClient(env.app) as c:
        req = request_for(c, env)
        sign_in(c, env.tokens["risk"], "risk")
        loop_thread = c.portal.call(threading.current_thread)  # type: ignore[arg-type]
        page = _ok(c.get(f"/console/requests/{req}"))
    assert 'id="request-status">pending<' in page
    assert len(built_on) == 1
    # SQLite never waits on a network: no hop. PostgreSQL's round trips leave the loop free.
    assert (built_on[0] is loop_thread) == env.ws.db.is_sqlite
