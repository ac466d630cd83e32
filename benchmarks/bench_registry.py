"""Registry throughput and search latency, and the same creation workload through MLflow.

1. Create N model versions (default 10,000) with two tags each, through lmops' store (one
   transaction per version, audited); and N more that also get an evidence record with two
   metrics (MLflow's registry has no metrics on versions, so only the first is like for like).
2. Fill the store to M versions (default 100,000) and time searches by tag and by metric
   threshold through the SDK (p50/p95 over many queries; target p95 <= 20 ms on SQLite).
3. The same creation workload (versions with two tags) through MLflow's own model-registry
   store on SQLite, in the same run, from its own venv (benchmarks/setup_mlflow_env.sh);
   prints our versions/s over MLflow's (target >= 2x).
4. With ``--concurrency 1,8,16,48``: instead of the above, W processes each create P versions
   (default 50) of one model at the same instant (a barrier), one audited transaction per
   version, on SQLite and on PostgreSQL in alternating rounds; prints a table of seconds,
   versions/s and the slowest single call for each backend and W (target: PostgreSQL at
   least SQLite's rate at 48 writers), and the machine's load average. CPU per version
   (writer processes, and their PostgreSQL backends when the server runs on this machine)
   and the machine's busy share are printed too: wall-clock rates on a shared machine
   move with the other load, CPU per version much less.

    .venv/bin/python benchmarks/bench_registry.py [--versions 10000] [--fill 100000]
    .venv/bin/python benchmarks/bench_registry.py --concurrency 1,8,16,48 [--per-writer 50]
        [--rounds 2] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MLFLOW_PY = HERE / ".venv-mlflow" / "bin" / "python"

MLFLOW_CHILD = r"""
import json, sys, time, os
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.entities.model_registry import ModelVersionTag
start, n = int(sys.argv[2]), int(sys.argv[3])
store = SqlAlchemyStore(f"sqlite:///{sys.argv[1]}")
if start == 0:
    store.create_registered_model("bench-model")
t0 = time.perf_counter()
for i in range(start, start + n):
    store.create_model_version(
        "bench-model", source=f"file:///models/{i}", run_id=None,
        tags=[ModelVersionTag("team", "cards" if i % 2 else "loans"),
              ModelVersionTag("batch", str(i % 100))])
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


#: What every seeded evidence record shares: an evaluation of a model by this benchmark.
EVAL = {"asset_type": "model", "kind": "eval", "stage": "evaluation", "plugin": "bench"}


def _new_version(s: Any, audit: Any, name: str, digest: str, **extra: Any) -> Any:
    """A version of model ``name`` holding ``digest``, created through the store (not the SDK)."""
    from lmops_core.registry import store

    fields = {"digest": digest, "kind": "base", "size_bytes": 1, "meta": {}}
    return store.create_version(s, audit, asset_type="model", name=name, fields=fields, **extra)


def create_versions(
    ws: object,
    start: int,
    count: int,
    *,
    per_txn: int = 1,
    evidence: bool = True,
    name: str = "bench-model",
) -> float:
    from lmops_core.digests import digest_bytes
    from lmops_core.registry import store

    audit = ws.audit_writer  # type: ignore[attr-defined]
    rng = random.Random(start)
    t0 = time.perf_counter()
    i = start
    while i < start + count:
        with ws.db.write() as s:  # type: ignore[attr-defined]
            for _ in range(min(per_txn, start + count - i)):
                digest = digest_bytes(f"weights-{i}".encode())
                tags = {"team": "cards" if i % 2 else "loans", "batch": str(i % 100)}
                row = _new_version(s, audit, name, digest, tags=tags)
                if evidence:
                    metrics = {"acc": rng.random(), "f1": rng.random()}
                    store.attach_evidence(
                        s, audit, version=row, expected_digest=digest, metrics=metrics, **EVAL
                    )
                i += 1
    return time.perf_counter() - t0


def time_queries(fn: object, n: int) -> list[float]:
    out = []
    for k in range(n):
        t0 = time.perf_counter()
        fn(k)  # type: ignore[operator]
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a local process (``None`` when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_pids(engine: Any) -> set[int]:
    """PostgreSQL backend pids of ``engine``'s connections, as they are opened."""
    from sqlalchemy import event

    pids: set[int] = set()
    if engine.dialect.name == "postgresql":
        event.listen(
            engine, "connect", lambda dbapi_conn, _rec: pids.add(dbapi_conn.info.backend_pid)
        )
    return pids


def _concurrent_writer(
    home: str, url: str, worker: int, count: int, start: Any, results: Any
) -> None:
    """One writer process: open the store, wait for the others, create ``count`` versions.

    Reports its wall end, slowest call, its own CPU seconds and those of its PostgreSQL
    backends (read from /proc when the server is on this machine) during the writes.
    """
    from lmops_core.digests import digest_bytes
    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

    ws = Workspace.open(
        Settings(
            home=Path(home), database_url=url, load_entry_points=False, actor=f"writer-{worker}"
        ),
        migrate=False,
    )
    audit = ws.audit_writer
    pids = _backend_pids(ws.db.engine)
    ws.db.engine.dispose()  # reconnect (before the start), so every backend is known
    ws.db.engine.connect().close()
    slowest = 0.0
    start.wait()
    cpu0 = time.process_time()
    server0 = {pid: _cpu_seconds(pid) for pid in pids}
    for i in range(count):
        t0 = time.perf_counter()
        with ws.db.write() as s:
            _new_version(s, audit, "contended", digest_bytes(f"{worker}-{i}".encode()))
        slowest = max(slowest, time.perf_counter() - t0)
    client = time.process_time() - cpu0
    server: float | None = 0.0
    if pids:
        for pid in pids:
            before, after = server0.get(pid, 0.0), _cpu_seconds(pid)
            if before is None or after is None:
                server = None
                break
            server = (server or 0.0) + after - before
    results.put(
        (
            worker,
            time.monotonic(),
            slowest,
            client / count,
            None if server is None else server / count,
        )
    )
    ws.close()


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def _fresh_store(backend: str, pg_url: str, tmp: Path) -> tuple[Path, str, Any]:
    """A new home and database; returns (home, url, cleanup)."""
    home = tmp / uuid.uuid4().hex[:8]
    if backend == "sqlite":
        return home, f"sqlite:///{home / 'meta.db'}", lambda: None
    import psycopg

    name = f"lmops_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return home, pg_url.rsplit("/", 1)[0] + "/" + name, drop


def run_concurrent(
    backend: str, pg_url: str, writers: int, per_writer: int, tmp: Path
) -> dict[str, float]:
    """W processes × P versions of one model at once; wall seconds from the barrier."""
    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

    home, url, cleanup = _fresh_store(backend, pg_url, tmp)
    try:
        Workspace.open(
            Settings(home=home, database_url=url, load_entry_points=False, actor="bench")
        ).close()  # migrate once, up front
        ctx = mp.get_context("spawn")
        start = ctx.Barrier(writers + 1)
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=_concurrent_writer, args=(str(home), url, w, per_writer, start, results)
            )
            for w in range(writers)
        ]
        for p in procs:
            p.start()
        start.wait()
        t0 = time.monotonic()
        busy0, total0 = _machine_ticks()
        done = [results.get(timeout=1800) for _ in procs]
        busy1, total1 = _machine_ticks()
        for p in procs:
            p.join()
        if any(p.exitcode != 0 for p in procs):
            raise RuntimeError(f"a writer failed on {backend}")
        seconds = max(d[1] for d in done) - t0
        ws = Workspace.open(
            Settings(home=home, database_url=url, load_entry_points=False, actor="bench")
        )
        numbers = [v.version for v in ws.list_versions("model", "contended")]
        ok = numbers == list(range(1, writers * per_writer + 1)) and ws.verify_audit().ok
        ws.close()
        if not ok:
            raise RuntimeError(f"{backend}: versions not exactly 1..N or the audit chain broke")
        server = [d[4] for d in done]
        return {
            "seconds": seconds,
            "rate": writers * per_writer / seconds,
            "slowest": max(d[2] for d in done),
            "client_ms": 1000 * statistics.mean(d[3] for d in done),
            "server_ms": (1000 * statistics.mean(server) if None not in server else float("nan")),
            "busy": (busy1 - busy0) / max(1, total1 - total0),
        }
    finally:
        cleanup()


def concurrency_table(
    levels: list[int], per_writer: int, rounds: int, pg_url: str, backends: list[str]
) -> None:
    """Print seconds, versions/s, the slowest call and CPU per version per backend and
    writer count."""
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for writers in levels:
                # Alternate which backend goes first, so a change in load hits both alike.
                for backend in backends if r % 2 == 0 else backends[::-1]:
                    res = run_concurrent(backend, pg_url, writers, per_writer, Path(tmp))
                    runs.setdefault((backend, writers), []).append(res)
                    loads.append(os.getloadavg()[0])
                    print(
                        f"  round {r + 1} {backend:<10} {writers:>3} writers: "
                        f"{res['seconds']:6.2f} s {res['rate']:7.1f} versions/s "
                        f"slowest {res['slowest']:.3f} s, CPU/version client "
                        f"{res['client_ms']:.2f} ms server {res['server_ms']:.2f} ms, "
                        f"machine busy {100 * res['busy']:.0f}%",
                        file=sys.stderr,
                    )
    print(
        f"concurrent writers: W processes x {per_writer} versions of one model, "
        f"1 audited txn each; median of {rounds} round(s), backends alternated"
    )
    print(
        f"  load average (1 min) during the run: min {min(loads):.2f}, "
        f"max {max(loads):.2f}, on {os.cpu_count()} CPUs"
    )
    print(
        "  CPU/version: milliseconds of CPU per version in the writer processes (client) "
        "and in their PostgreSQL backends (server, read from /proc: a local server only); "
        "busy: the whole machine's CPU use during the run"
    )
    print(
        f"  {'backend':<11}{'writers':>8}{'seconds':>10}{'versions/s':>12}{'slowest call':>14}"
        f"{'client ms/v':>13}{'server ms/v':>13}{'busy':>6}"
    )
    for backend in backends:
        for writers in levels:
            rs = runs[(backend, writers)]
            secs = statistics.median(x["seconds"] for x in rs)
            rate = statistics.median(x["rate"] for x in rs)
            slow = max(x["slowest"] for x in rs)
            client = statistics.median(x["client_ms"] for x in rs)
            server = statistics.median(x["server_ms"] for x in rs)
            busy = statistics.median(x["busy"] for x in rs)
            print(
                f"  {backend:<11}{writers:>8}{secs:>10.2f}{rate:>12.1f}{slow:>13.3f}s"
                f"{client:>13.2f}{server:>13.2f}{100 * busy:>5.0f}%"
            )
    for writers in levels if len(backends) == 2 else []:
        sq = statistics.median(x["rate"] for x in runs[("sqlite", writers)])
        pg = statistics.median(x["rate"] for x in runs[("postgresql", writers)])
        print(f"  PostgreSQL / SQLite at {writers} writers: {pg / sq:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--fill", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp folder")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="alternate ours and MLflow's creation in this many rounds "
        "(default 10); with --concurrency, the backends (default 2)",
    )
    parser.add_argument(
        "--concurrency",
        default=None,
        help="writer counts, e.g. 1,8,16,48: run only the concurrent-writer "
        "table, on SQLite and PostgreSQL",
    )
    parser.add_argument("--per-writer", type=int, default=50)
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="with --concurrency: which of sqlite,postgresql to run",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("LMOPS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database the benchmark may create databases from",
    )
    args = parser.parse_args()
    if args.concurrency:
        levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        if not backends or set(backends) - {"sqlite", "postgresql"}:
            parser.error(f"--backends: expected sqlite and/or postgresql, got {args.backends!r}")
        concurrency_table(levels, args.per_writer, args.rounds or 2, args.pg_url, backends)
        return

    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        ws = Workspace.open(
            Settings(
                home=home, database_url=args.database_url, load_entry_points=False, actor="bench"
            )
        )
        # Ours and MLflow's creation workloads alternate in rounds, so a change in the
        # machine's load during the run hits both alike.
        use_mlflow = not args.skip_mlflow and MLFLOW_PY.exists()
        if not args.skip_mlflow and not use_mlflow:
            print(f"MLflow venv missing: run {HERE / 'setup_mlflow_env.sh'} first", file=sys.stderr)
        created = tags_only = mlflow_s = 0.0
        per_round = max(1, args.versions // (args.rounds or 10))
        for start in range(0, args.versions, per_round):
            count = min(per_round, args.versions - start)
            tags_only += create_versions(ws, start, count, evidence=False, name="same-as-mlflow")
            created += create_versions(ws, start, count)
            if use_mlflow:
                out = subprocess.run(
                    [
                        str(MLFLOW_PY),
                        "-c",
                        MLFLOW_CHILD,
                        str(home / "mlflow.db"),
                        str(start),
                        str(count),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                mlflow_s += json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        ours_rate = args.versions / created
        same_rate = args.versions / tags_only
        fill_t = create_versions(ws, args.versions, max(0, args.fill - args.versions), per_txn=500)
        present = max(args.fill, args.versions)

        by_tag = time_queries(
            lambda k: ws.search("model", tags={"batch": str(k % 100)}, limit=50), args.queries
        )
        by_metric = time_queries(
            lambda k: ws.search("model", metrics=[f"eval.acc>={0.5 + (k % 40) / 100}"], limit=50),
            args.queries,
        )
        both = time_queries(
            lambda k: ws.search(
                "model",
                tags={"team": "cards"},
                metrics=[f"eval.f1<{0.1 + (k % 50) / 100}"],
                limit=50,
            ),
            args.queries,
        )
        verify_t0 = time.perf_counter()
        result = ws.verify_audit()
        verify_s = time.perf_counter() - verify_t0
        ws.close()

        mlflow_rate = args.versions / mlflow_s if use_mlflow else None

    db = "SQLite" if args.database_url is None else args.database_url.split(":")[0]
    print(f"registry benchmark ({db})")
    rows = [
        (
            f"create {args.versions:,} versions (2 tags each, 1 txn each, audited)",
            f"{same_rate:,.0f} versions/s ({tags_only:.1f} s)",
        ),
        (
            f"create {args.versions:,} versions (2 tags + evidence with 2 metrics each)",
            f"{ours_rate:,.0f} versions/s ({created:.1f} s)",
        ),
        (f"fill to {present:,} versions (500 per txn)", f"{fill_t:.1f} s"),
    ]
    for name, lat in (
        ("search by tag", by_tag),
        ("search by metric threshold", by_metric),
        ("search by tag + metric", both),
    ):
        rows.append(
            (
                f"{name}, {present:,} present, limit 50 (target p95 <= 20 ms)",
                f"p50 {statistics.median(lat):.1f} ms, p95 {percentile(lat, 0.95):.1f} ms",
            )
        )
    rows.append(
        (
            f"audit verify ({result.events:,} events)",
            f"{result.events / verify_s:,.0f} events/s, ok={result.ok}",
        )
    )
    if mlflow_rate is not None:
        rows.append(
            (
                f"MLflow SqlAlchemyStore: create {args.versions:,} versions (2 tags each)",
                f"{mlflow_rate:,.0f} versions/s",
            )
        )
        rows.append(
            ("ours / MLflow, same workload (target >= 2x)", f"{same_rate / mlflow_rate:.2f}x")
        )
        rows.append(("ours with evidence / MLflow without", f"{ours_rate / mlflow_rate:.2f}x"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
