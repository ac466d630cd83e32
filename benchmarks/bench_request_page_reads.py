"""The request page's reads: pipelined (``read_all``) against one statement per round trip.

Seeds a store the way ``bench_api.py`` does (R pending requests, E audit events), then
reads request pages never read before with :func:`read_request_page` (its five statements
in one batch for a model request: on PostgreSQL one round trip after the transaction's
``BEGIN``, then ``ROLLBACK``: three in all, where one statement each made seven) and, as
the baseline in the same run, the same page read with each statement sent alone
(:meth:`PreparedSelect.rows`: one round trip each, as the page read before). Rounds
alternate the two. Reported per page: CPU time of this process (``time.process_time``;
the database server's is not in it) and wall time, with one reader, and with T readers
in threads (as the API's thread pool runs pages: each waiting reader wants the GIL back
after every round trip), as pages per second and p99 latency.

    python benchmarks/bench_request_page_reads.py [--database-url URL]
        [--requests 5000] [--events 50000] [--pages 300] [--rounds 3] [--threads 16]

On SQLite (no ``--database-url``) both read in-process and differ little; the figures
that matter are PostgreSQL's: create a database first, e.g.
``createdb -h 127.0.0.1 -U postgres lmops_bench_pages`` and pass
``--database-url postgresql://postgres@127.0.0.1:5432/lmops_bench_pages``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import (  # noqa: E402
    VERSIONS_PER_MODEL,
    bench_workspace,
    percentile,
    seed_events,
    seed_requests,
)

AUDIT_LIMIT = 200


def read_page(conn: Any, request_id: str) -> None:
    from lmops_core.governance.request_page import read_request_page

    read_request_page(conn, request_id, audit_limit=AUDIT_LIMIT)


def _each_alone(conn: Any, reads: Any) -> list[Any]:
    return [select.rows(conn, params) for select, params in reads]


@contextlib.contextmanager
def batches(kind: str) -> Iterator[None]:
    """The page read with its statements pipelined, or ("one by one") each sent alone, one
    round trip each as the page read before ``read_all``: the module's batch reader swapped
    meanwhile, and nothing else."""
    from lmops_core.governance import request_page

    batch = request_page.read_all
    if kind == "one by one":
        request_page.read_all = _each_alone  # type: ignore[assignment]
    try:
        yield
    finally:
        request_page.read_all = batch


def _timed(ws: Any, read: Callable[[Any, str], None], ids: list[str]) -> list[float]:
    lat = []
    for rid in ids:
        t0 = time.perf_counter()
        with ws.db.snapshot_connection() as conn:
            read(conn, rid)
        lat.append(time.perf_counter() - t0)
    return lat


def one_reader(ws: Any, read: Callable[[Any, str], None], ids: list[str]) -> tuple[float, float]:
    """CPU ms and wall ms per page, one page after another."""
    c0, w0 = time.process_time(), time.perf_counter()
    _timed(ws, read, ids)
    return (time.process_time() - c0) * 1e3 / len(ids), (time.perf_counter() - w0) * 1e3 / len(ids)


def threaded(
    ws: Any, read: Callable[[Any, str], None], ids: list[str], threads: int
) -> tuple[float, float, float]:
    """Pages per second, p99 ms and CPU ms per page with ``threads`` readers."""
    share = [ids[i::threads] for i in range(threads)]
    lats: list[list[float]] = [[] for _ in range(threads)]

    def work(i: int) -> None:
        lats[i] = _timed(ws, read, share[i])

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    c0, w0 = time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    every = [x for lat in lats for x in lat]
    return len(ids) / wall, percentile(every, 0.99) * 1e3, cpu * 1e3 / len(ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--requests", type=int, default=5_000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--pages", type=int, default=300, help="pages per measurement")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args()

    ws = bench_workspace(args.database_url, "lmops-bench-page-reads-")
    ids = seed_requests(ws, args.requests, 0)
    created = [
        f"model:bench-{i // VERSIONS_PER_MODEL:05d}@{i % VERSIONS_PER_MODEL + 1}"
        for i in range(args.requests)
    ]
    seed_events(ws, max(args.events, len(created)), created)
    needed = 4 * args.pages * args.rounds + 2 * (10 + args.threads)
    if needed > len(ids):
        raise SystemExit(f"--requests must be at least {needed} (every page read is new)")
    unseen: Iterator[str] = iter(ids)
    variants = ("pipelined", "one by one")
    for name in variants:  # warm: statements compiled, pool filled
        with batches(name):
            _timed(ws, read_page, [next(unseen) for _ in range(10)])
            threaded(ws, read_page, [next(unseen) for _ in range(args.threads)], args.threads)

    one: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    many: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for r in range(args.rounds):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            with batches(name):
                one[name].append(
                    one_reader(ws, read_page, [next(unseen) for _ in range(args.pages)])
                )
        for name in order:
            batch = [next(unseen) for _ in range(args.pages)]
            with batches(name):
                many[name].append(threaded(ws, read_page, batch, args.threads))

    load = os.getloadavg()
    print(
        f"backend={ws.db.dialect} requests={args.requests} events={args.events} "
        f"pages={args.pages} rounds={args.rounds} threads={args.threads} "
        f"load={load[0]:.2f},{load[1]:.2f} (medians of rounds)"
    )
    med = statistics.median
    for name in variants:
        cpu1 = med(x[0] for x in one[name])
        wall1 = med(x[1] for x in one[name])
        rate = med(x[0] for x in many[name])
        p99 = med(x[1] for x in many[name])
        cpun = med(x[2] for x in many[name])
        print(
            f"{name:>10}: 1 reader {cpu1:.3f} ms CPU, {wall1:.3f} ms wall per page | "
            f"{args.threads} readers {rate:,.0f} pages/s, p99 {p99:.1f} ms, {cpun:.3f} ms CPU/page"
        )
    base, new = "one by one", "pipelined"
    print(
        "ratio one-by-one / pipelined: "
        f"CPU {med(x[0] for x in one[base]) / med(x[0] for x in one[new]):.2f}x, "
        f"wall {med(x[1] for x in one[base]) / med(x[1] for x in one[new]):.2f}x (1 reader); "
        f"pages/s {med(x[0] for x in many[new]) / med(x[0] for x in many[base]):.2f}x, "
        f"p99 {med(x[1] for x in many[base]) / med(x[1] for x in many[new]):.2f}x "
        f"({args.threads} readers)"
    )


if __name__ == "__main__":
    main()
