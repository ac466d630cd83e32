"""The cost of one approval in-process: CPU, wall, statements and round trips per decision.

Seeds a fresh store the way ``bench_api.py`` does (pending requests with valid snapshots,
audit events saying each version's author was authenticated), then approves N requests
through the SDK as a validator acting by token (one approval out of the two the policy
needs: every call writes a decision, an audit event and evidence, and promotes nothing),
one at a time, and prints the median CPU (``time.process_time``) and wall time per
approval, the CPU the PostgreSQL backends spent per approval (``/proc``), and the
statements sent per approval (counted with SQLAlchemy's
``before_cursor_execute`` plus the audit chain's own pipelined sends on PostgreSQL).

To compare two trees, run it from each in turn (the script may live in one of them):

    cd /work/wt/base && /work/bin/wtpy /work/wt/branch/benchmarks/bench_decide.py --backend sqlite

``--profile N`` prints the N functions with the most cumulative time (cProfile).
``--threads N`` then approves ``--calls`` more requests from N threads at once, as the admin
API's thread pool runs them (no HTTP), and prints p50/p99 latency, approvals per second and
the process's CPU per approval.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_api import bench_workspace, seed_events, seed_requests


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    from lmops_core.testing.postgres import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


def _count_statements(ws: Any) -> dict[str, int]:
    """Count what the decision sends: SQLAlchemy statements, the audit chain's raw sends
    (PostgreSQL), and commits."""
    from sqlalchemy import event

    counts = {"statements": 0, "raw": 0, "commits": 0}
    engine = ws.db.engine

    def on_execute(*_args: Any) -> None:
        counts["statements"] += 1

    def on_commit(*_args: Any) -> None:
        counts["commits"] += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    if ws.db.dialect == "postgresql":
        from lmops_core.audit import postgres

        original = postgres._run

        def counted(raw: Any, key: bytes, anchor: Any, send: Any) -> None:
            counts["raw"] += 1
            original(raw, key, anchor, send)

        postgres._run = counted
    return counts


def _backend_cpu_s(ws: Any) -> float:
    """CPU seconds (user + system, ``/proc``; Linux) spent so far by the PostgreSQL backends
    serving this database (0 on SQLite, which runs in this process)."""
    if ws.db.dialect != "postgresql":
        return 0.0
    from sqlalchemy import text

    with ws.db.engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _threaded(gov: Any, ids: list[str], threads: int) -> None:
    """Approve ``ids`` from ``threads`` threads at once; print p50/p99 latency, approvals
    per second and the process's CPU per approval (all threads)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(rid: str) -> float:
        t0 = time.perf_counter()
        public = gov.decide(rid, approve=True, role="validator", comment="bench approval")
        assert public.status == "pending" and len(public.decisions) == 1, public
        return time.perf_counter() - t0

    c0, w0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        lat = sorted(pool.map(one, ids))
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    print(
        f"  {threads} threads: {len(ids)} approvals  p50 {statistics.median(lat) * 1e3:.1f} ms"
        f"  p99 {p99 * 1e3:.1f} ms  {len(ids) / wall:.0f} approvals/s"
        f"  CPU {cpu * 1e3 / len(ids):.2f} ms per approval  load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--profile", type=int, default=0)
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="then approve --calls more requests from this many threads at once (as the "
        "admin API's thread pool runs them) and print latency and approvals/s",
    )
    args = ap.parse_args()

    with _database(args.backend) as url:
        ws = bench_workspace(url, prefix="lmops-bench-decide-")
        admin = ws.with_token(ws.governance.bootstrap_admin("bench-admin")).governance
        val = ws.with_token(admin.create_token("bench-val", role="validator")).governance
        admin.create_token("bench-risk", role="risk_officer")
        calls = min(args.calls, args.requests)
        burst = min(args.calls, args.requests - calls) if args.threads else 0
        ids = seed_requests(ws, args.requests, calls + burst)
        seed_events(
            ws,
            max(args.events, args.requests),
            [f"model:bench-{i // 10:05d}@{i % 10 + 1}" for i in range(args.requests)],
        )
        # Warm up (imports, statement caches, the policy files), then measure.
        warm = max(5, calls // 10)
        for rid in ids[:warm]:
            val.decide(rid, approve=True, role="validator", comment="bench approval")
        counts = _count_statements(ws)
        cpu, wall = [], []
        profiler = cProfile.Profile() if args.profile else None
        measured = ids[warm:calls]
        backend0 = _backend_cpu_s(ws)
        for rid in measured:
            c0, w0 = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            public = val.decide(rid, approve=True, role="validator", comment="bench approval")
            if profiler is not None:
                profiler.disable()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            assert public.status == "pending" and len(public.decisions) == 1, public
        n = len(measured)
        backend = (_backend_cpu_s(ws) - backend0) / n
        load = os.getloadavg()
        print(
            f"{args.backend}: {n} approvals  CPU p50 {statistics.median(cpu) * 1e3:.2f} ms  "
            f"wall p50 {statistics.median(wall) * 1e3:.2f} ms  "
            f"statements {counts['statements'] / n:.1f} + audit sends {counts['raw'] / n:.1f}"
            f"  commits {counts['commits'] / n:.1f}  database CPU {backend * 1e3:.2f} ms"
            f"  load {load[0]:.1f}"
        )
        if burst:
            _threaded(val, ids[calls : calls + burst], args.threads)
        if profiler is not None:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.profile)
            print(out.getvalue())
        ws.db.engine.dispose()


if __name__ == "__main__":
    main()
