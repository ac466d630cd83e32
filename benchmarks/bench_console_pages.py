"""The console's two busy pages, in-process: CPU and SQL statements per page.

Seeds a store the way ``bench_api.py`` does (R pending requests, E audit events),
then, as a risk officer:

* a request page never opened before: the view function alone
  (:func:`lmops_core.api.console.views.request_view`) and the whole route through
  Starlette's ``TestClient`` (session, generation read, view, Jinja, CSRF slot);
* an inbox page computed afresh (pages 1-50, the page cache emptied before each pass;
  the pending queue stays cached per generation, as on a server under load);
* the inbox's first page again and again (from the page cache: the session, the
  generation read, the framework and the client are what is left).

Figures are CPU time (``time.process_time``, all threads of this process) per page,
and SQL statements per page (counted by an engine event). Run it on two checkouts in
one session, alternating, to compare them; ``--profile`` prints cProfile's top entries.

    python benchmarks/bench_console_pages.py [--requests 10000] [--events 100000]
        [--pages 200] [--rounds 3] [--database-url URL] [--profile request|inbox]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import VERSIONS_PER_MODEL, bench_workspace, seed_events, seed_requests  # noqa: E402


def _cpu_ms(fn: Callable[[int], Any], n: int) -> float:
    t0 = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - t0) * 1e3 / n


def _view(ws: Any, principal: Any, batch: list[str], i: int) -> None:
    from lmops_core.api.console import views

    views.request_view(ws, principal, batch[i])


def _page(get: Callable[[str], None], batch: list[str], i: int) -> None:
    get(f"/console/requests/{batch[i]}")


def main() -> None:  # noqa: PLR0915 - a linear script reads best as one function
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--pages", type=int, default=200, help="request pages per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--profile", choices=("request", "inbox"), default=None)
    args = ap.parse_args()

    from sqlalchemy import event

    from lmops_core.api.app import create_app
    from lmops_core.api.cache import GenerationCache
    from lmops_core.api.console import views

    ws = bench_workspace(args.database_url, "lmops-bench-console-")
    admin = ws.with_token(ws.governance.bootstrap_admin("bench-admin")).governance
    risk_token = admin.create_token("bench-risk", role="risk_officer")
    ids = seed_requests(ws, args.requests, 0)
    created = [
        f"model:bench-{i // VERSIONS_PER_MODEL:05d}@{i % VERSIONS_PER_MODEL + 1}"
        for i in range(args.requests)
    ]
    seed_events(ws, max(args.events, len(created)), created)

    statements = [0]

    def count(*_a: Any) -> None:
        statements[0] += 1

    event.listen(ws.db.engine, "before_cursor_execute", count)
    risk_ws = ws.with_token(risk_token)
    risk = risk_ws.governance.authenticate(risk_token)

    app = create_app(ws)
    if args.profile:
        # cProfile sees one thread: run the pages' thread-pool work inline.
        from lmops_core.api.console import pages

        async def inline(fn: Callable[[], Any]) -> Any:
            return fn()

        vars(pages)["off_loop"] = inline
    loop = asyncio.new_event_loop()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
    form = loop.run_until_complete(client.get("/console/sign-in"))
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, "the sign-in form has no CSRF token"
    done = loop.run_until_complete(
        client.post(
            "/console/sign-in",
            data={"csrf": csrf[1], "next": "/console", "token": risk_token},
            follow_redirects=False,
        )
    )
    assert done.status_code == 303, done.text[:200]
    client.cookies.set("lmops_console", done.cookies["lmops_console"], path="/console")

    def get(path: str) -> None:
        r = loop.run_until_complete(client.get(path))
        if r.status_code != 200:
            raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")

    def inbox_pass(_i: int) -> None:
        app.state.console_pages = GenerationCache[str](max_entries=512)
        for page in range(1, 51):
            get(f"/console?scope=all&page={page}")

    get("/console?scope=all")  # the queue, read once per generation
    get(f"/console/requests/{ids[0]}")
    views.request_view(risk_ws, risk, ids[1])
    n = args.pages
    unseen = iter(ids[2:])

    if args.profile:
        prof = cProfile.Profile()
        if args.profile == "request":
            batch = [next(unseen) for _ in range(n)]
            prof.enable()
            for rid in batch:
                get(f"/console/requests/{rid}")
        else:
            prof.enable()
            inbox_pass(0)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(
            "lmops_core|jinja|templates|sqlalchemy/(engine|orm/session)|pydantic|redact", 60
        )
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return

    load = os.getloadavg()
    print(
        f"backend={ws.db.dialect} requests={args.requests} events={args.events} "
        f"load={load[0]:.2f},{load[1]:.2f}"
    )
    for r in range(args.rounds):
        batch = [next(unseen) for _ in range(n)]
        statements[0] = 0
        view_ms = _cpu_ms(partial(_view, risk_ws, risk, batch), n)
        view_sql = statements[0] / n
        batch = [next(unseen) for _ in range(n)]
        statements[0] = 0
        page_ms = _cpu_ms(partial(_page, get, batch), n)
        page_sql = statements[0] / n
        statements[0] = 0
        inbox_ms = _cpu_ms(inbox_pass, 2) / 50
        inbox_sql = statements[0] / 100
        # Session and generation reads run on raw driver cursors, which the statement
        # counter does not see: the session store counts its own reads (where it does).
        before = getattr(app.state.console_sessions, "reads", None)
        cached_ms = _cpu_ms(lambda _i: get("/console?scope=all"), n)
        after = getattr(app.state.console_sessions, "reads", None)
        reads = "n/a" if before is None else f"{(after - before) / n:.1f}"
        print(
            f"round {r + 1}: request view {view_ms:.2f} ms ({view_sql:.1f} SQL) | "
            f"request page route {page_ms:.2f} ms ({page_sql:.1f} SQL) | "
            f"inbox page afresh {inbox_ms:.2f} ms ({inbox_sql:.1f} SQL) | "
            f"cached page {cached_ms:.2f} ms ({reads} session reads)"
        )
    print(f"load at end {os.getloadavg()[0]:.2f}; median of rounds printed above")


if __name__ == "__main__":
    main()
