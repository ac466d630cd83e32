"""The review console in a real browser: Debian's Chromium driven by Playwright.

One browser and one server for the module (CI time is tight); a fresh browser
context (cookies, storage) per test. Every page a test opens is checked to make
no request to another host and to log no console error, and is saved as a
screenshot under ``test-artifacts/console/`` (git-ignored).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Route,
    expect,
    sync_playwright,
)

from lmops_core.registry.models import utcnow
from tests.api.conftest import Env, build_env, running

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking switches Chromium keeps calling home through the closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
# An advisory rule beside the blocking test policy, so a request shows a failing rule.
ADVISORY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: console-advisory
    rules:
      - name: target
        applies_to: {asset: model, transition: production}
        conditions:
          - name: accuracy-target
            expr: evidence.eval.metrics.acc >= 0.9
            message: accuracy below the 0.9 target
            severity: warn
""")


@dataclass
class Site:
    """The console on a real server, and the store behind it."""

    env: Env
    url: str
    local: str
    requests: dict[str, str] = field(default_factory=dict)

    def pending(self, acc: float, *, validated: bool) -> str:
        """A pending production request of a fresh version (approved by ``val`` if asked)."""
        ref = self.env.model(acc=acc)
        req = self.env.as_user("sub").governance.request_promotion(ref, to="production")
        if validated:
            self.env.as_user("val").governance.decide(
                req.id, approve=True, role="validator", comment="validated on holdout"
            )
        return req.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A governed SQLite store served by uvicorn on a free loopback port."""
    env = build_env(tmp_path_factory.mktemp("console"), None)
    (env.policy_file.parent / "advisory.yaml").write_text(ADVISORY)
    with running(env.app) as url:
        yield Site(env=env, url=url, local=urlsplit(url).netloc)
    env.ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium (scripts/test.sh installs it when missing), headless."""
    assert CHROMIUM.exists(), (
        "Chromium is not installed: run scripts/test.sh, or apt-get install -y chromium"
    )
    with sync_playwright() as pw:
        yield _launch(pw)


def _launch(pw: Playwright) -> Browser:
    # Playwright gives every launch a fresh, temporary user-data-dir of its own.
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


@dataclass
class Watch:
    """What the pages of one context did that they must not: foreign hosts, console errors."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[tuple[BrowserContext, Watch]]:
    """A fresh context whose requests to any other host are recorded and aborted."""
    watch = Watch()
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})

    def gate(route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "about", "blob") or parts.netloc == site.local:
            route.continue_()
        else:
            watch.foreign.append(request.url)
            route.abort()

    ctx.route("**/*", gate)
    yield ctx, watch
    ctx.close()
    assert watch.foreign == [], f"pages reached other hosts: {watch.foreign}"
    assert watch.errors == [], f"pages logged console errors: {watch.errors}"


def _open(ctx: BrowserContext, watch: Watch) -> Page:
    page = ctx.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.errors.append(f"{page.url}: {exc}"))
    return page


def shot(page: Page, name: str) -> None:
    """Save the whole page as ``test-artifacts/console/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, site: Site, user: str, *, start: str = "/console") -> None:
    """Open ``start``, get sent to the sign-in form, paste ``user``'s token."""
    page.goto(site.url + start)
    expect(page).to_have_url(f"{site.url}/console/sign-in?next={start.replace('/', '%2F')}")
    page.fill("#token", site.env.tokens[user])
    page.click("#sign-in")
    expect(page.locator("#signed-in-as")).to_have_text(user)


def test_risk_officer_reviews_and_approves(
    site: Site, context: tuple[BrowserContext, Watch]
) -> None:
    ctx, watch = context
    request_id = site.pending(0.8, validated=True)
    page = _open(ctx, watch)
    page.goto(site.url + "/")
    expect(page.locator("#sign-in")).to_be_visible()
    shot(page, "sign-in")
    sign_in(page, site, "risk")
    row = page.locator(f"#inbox a[href='/console/requests/{request_id}']")
    expect(row).to_be_visible()
    expect(page.locator("#inbox tr.actionable")).to_have_count(1)
    shot(page, "inbox")

    row.click()
    expect(page.locator("#request-status")).to_have_text("pending")
    failing = page.locator("#outcomes tr.outcome-fail")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("accuracy below the 0.9 target")
    expect(failing).to_contain_text("eval.acc = 0.8")
    expect(page.locator("#outcomes tr.outcome-pass").first).to_be_visible()
    expect(page.locator("#evidence")).to_contain_text("acc = 0.8")
    report = page.frame_locator("#report")
    expect(report.locator("h1")).to_contain_text("Validation report")
    shot(page, "request")

    page.fill("#comment", "Risk accepted: advisory target missed by 0.1, monitored weekly.")
    page.click("#approve")
    expect(page.locator("#notice")).to_have_text("Your approval was recorded.")
    expect(page.locator("#request-status")).to_have_text("approved")
    expect(page.locator("#version-stage")).to_have_text("production")
    expect(page.locator("#decisions")).to_contain_text("monitored weekly")
    expect(page.locator("#decision-form")).to_have_count(0)
    shot(page, "request-approved")

    page.click("text=Inventory")
    expect(page.locator("#inventory-model")).to_contain_text("production")
    shot(page, "inventory")
    page.click("#inventory-model a[href='/console/assets/model/chat']")
    expect(page.locator("h1")).to_have_text("model chat")
    shot(page, "asset")


def test_viewer_cannot_decide(site: Site, context: tuple[BrowserContext, Watch]) -> None:
    ctx, watch = context
    request_id = site.pending(0.95, validated=False)
    page = _open(ctx, watch)
    sign_in(page, site, "view")
    page.click(f"#inbox a[href='/console/requests/{request_id}']")
    expect(page.locator("#no-decision")).to_contain_text("may read but not decide")
    expect(page.locator("#decision-form")).to_have_count(0)
    expect(page.locator("#approve")).to_have_count(0)
    shot(page, "request-viewer")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    assert csrf
    forged = ctx.request.post(
        f"{site.url}/console/requests/{request_id}/decide",
        form={"csrf": csrf, "decision": "approve", "role": "risk_officer", "comment": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403
    detail = site.env.ws.governance.get_request(request_id)
    assert detail.status == "pending" and detail.decisions == []


def test_expired_session_returns_to_sign_in(
    site: Site, context: tuple[BrowserContext, Watch]
) -> None:
    ctx, watch = context
    page = _open(ctx, watch)
    sign_in(page, site, "risk", start="/console/inventory")
    expect(page).to_have_url(site.url + "/console/inventory")
    store = site.env.app.state.console_sessions
    real = store.clock
    store.clock = lambda: utcnow() + store.ttl + timedelta(minutes=1)
    try:
        page.reload()
        expect(page).to_have_url(f"{site.url}/console/sign-in?next=%2Fconsole%2Finventory")
        expect(page.locator("#sign-in")).to_be_visible()
        shot(page, "session-expired")
    finally:
        store.clock = real


def test_steward_judges_a_sample_review(site: Site, context: tuple[BrowserContext, Watch]) -> None:
    ctx, watch = context
    review = site.env.as_user("steward").annotation.sample_review(site.env.dataset(), size=2)
    first, second = (i.record_index for i in review.items)
    page = _open(ctx, watch)
    sign_in(page, site, "steward")
    page.click("#nav-reviews")
    page.click(f"#reviews a[href='/console/reviews/{review.id}']")
    expect(page.locator("#review-status")).to_have_text("open")
    expect(page.locator(f"#record-{first} pre.record")).to_contain_text(f"question {first}")
    shot(page, "review")

    page.locator(f"#record-{first} input[name=reason]").fill("answer is off-topic")
    page.locator(f"#record-{first} button.reject").click()
    expect(page.locator("#notice")).to_have_text("Your rejection was recorded.")
    expect(page.locator(f"#record-{first}")).to_contain_text("answer is off-topic")
    page.locator(f"#record-{second} button.approve").click()
    expect(page.locator("#notice")).to_have_text("Your acceptance was recorded.")
    expect(page.locator("#review-counts")).to_have_text("1 accepted, 1 rejected, 0 undecided")
    page.click("#finish")
    expect(page.locator("#review-status")).to_have_text("finished")
    result = site.env.ws.annotation.review(review.id).result_ref
    assert result is not None
    expect(page.locator("#review-result")).to_have_text(result)
    shot(page, "review-finished")
