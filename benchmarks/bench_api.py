"""Admin API under load: listing pending requests, approving, and verifying the audit log.

1. Seed a fresh store with R approval requests (default 10,000, all pending, one per model
   version, each with a valid frozen snapshot) and E audit events (default 100,000, a valid
   hash chain with a signed head). Seeding BYPASSES the API and the service: rows are
   inserted in bulk with SQLAlchemy core, because creating them one by one would take hours.
2. Start the API on a real uvicorn server (a subprocess) on a free loopback port.
3. Measure through HTTP, with C concurrent keep-alive connections (default 50) driven
   by a minimal asyncio HTTP/1.1 client (see ``_Connection``; ``--httpx`` adds a run
   with httpx for comparison):
   ``GET /api/v1/requests?status=pending`` (target p99 <= 50 ms) and
   ``POST /api/v1/requests/{id}/approve`` (one validator approval out of the two the policy
   needs, so every call writes a decision, an audit event and evidence but promotes nothing).
   Baseline in the same run: the same calls through the SDK in-process, one at a time.
   The console (signed in as a risk officer through its form): the inbox's first page and
   pages 1-50 (target p99 <= 100 ms), and request pages, both the same pages again and
   pages never opened before (each computed afresh; target p99 <= 100 ms); baseline: the
   console's views in-process. Approving (target p99 <= 100 ms) runs after the console.
   Server CPU per call: the same routes sent by one client, each timed by the user + system
   CPU time the server process spent (``/proc``; Linux): on a machine other work loads,
   this says what one core serves where latencies say little (summed over the server's
   worker processes). The server runs ``--workers`` processes (default 1), as
   ``lmops serve --workers N`` does (``lmops_core.api.app.serve``): processes built by
   ``worker_app`` from the environment, each on a socket of its own on Linux; console
   sign-ins live in the store, so every worker serves the session.
   The in-process approve baseline also reports how much of an approval's CPU is spent
   inside its write transaction, which SQLite runs one at a time whatever the workers.
4. Grow the audit chain to V events (default 1,000,000) and time ``POST /api/v1/audit/verify``
   and, as baseline, ``Workspace.verify_audit()`` in-process (target >= 200k events/s).

    .venv/bin/python benchmarks/bench_api.py [--database-url URL] [--requests 10000]
        [--events 100000] [--verify-events 1000000] [--clients 50] [--list-calls 2000]
        [--approvals 1000] [--console-calls 1000] [--cpu-calls 100] [--workers 1] [--no-verify]

PostgreSQL: create an empty database first, e.g.
``createdb -h 127.0.0.1 -U postgres lmops_bench_api`` and pass
``--database-url postgresql://postgres@127.0.0.1:5432/lmops_bench_api``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from policies import production_policy

POLICY = production_policy(
    evidence=[{"kind": "eval"}],
    conditions=[
        {"name": "accuracy", "expr": "evidence.eval.metrics.acc >= 0.5", "message": "too weak"}
    ],
    request_ttl="7d",
)
VERSIONS_PER_MODEL = 10
CHUNK = 5_000

# The store comes from the environment (LMOPS_*), as each ``lmops serve`` worker reads it.
SERVER = r"""
import sys
from lmops_core.api.app import serve
# As ``lmops serve --workers N`` runs it (one socket per process on Linux). uvicorn's
# default keep-alive of 5 s can close a connection just as a client reuses it when the
# loaded server's event loop runs late (httpx ReadError).
serve("127.0.0.1", int(sys.argv[1]), workers=int(sys.argv[3]), log_level=sys.argv[2],
      access_log=False, timeout_keep_alive=60)
"""


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _chunks(rows: list[dict[str, Any]]) -> Any:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


# -- seeding (direct SQL, bypasses the API and the service) ---------------------------------


def settle_store(ws: Any) -> None:
    """After seeding, bring PostgreSQL's statistics and visibility map up to date, as its
    autovacuum does in a store that has been running: otherwise autovacuum and autoanalyze
    of the freshly filled tables start a minute later, in the middle of the timed runs.
    SQLite has nothing of the kind to wait for."""
    if ws.db.dialect != "postgresql":
        return
    with ws.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")


def bench_workspace(database_url: str | None, prefix: str) -> Any:
    """A fresh store in a new temporary folder, with the benchmark's policy."""
    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    policies = tmp / "policies"
    policies.mkdir()
    (policies / "bench.yaml").write_text(POLICY)
    settings = Settings(
        home=tmp / "home",
        database_url=database_url,
        policies_dir=policies,
        load_entry_points=False,
        actor="bench",
    )
    return Workspace.open(settings)


def seed_requests(ws: Any, count: int, with_evidence: int) -> list[str]:
    """Insert ``count`` models versions and one valid pending request for each.

    The first ``with_evidence`` versions get ``eval`` evidence through the SDK before
    their request is made, so approving them passes the policy's re-check (the rest
    would be invalidated when approved: they are only read).
    """
    from sqlalchemy import select

    from lmops_core.audit.chain import canonical_json
    from lmops_core.digests import digest_bytes
    from lmops_core.governance.models import ApprovalRequest
    from lmops_core.registry.models import Model, ModelVersion

    policy_digests = ws.governance.policies().digests
    now = datetime.now(UTC)
    n_models = max(1, (count + VERSIONS_PER_MODEL - 1) // VERSIONS_PER_MODEL)
    with ws.db.write() as s:
        conn = s.connection()
        conn.execute(
            Model.__table__.insert(),
            [  # type: ignore[attr-defined]
                {
                    "name": f"bench-{m:05d}",
                    "normalized_name": f"bench-{m:05d}",
                    "description": "",
                    "risk_tier": "standard",
                    "latest_version": VERSIONS_PER_MODEL,
                    "created_at": now,
                    "created_by": "bench-author",
                }
                for m in range(n_models)
            ],
        )
        ids = {name: mid for mid, name in conn.execute(select(Model.id, Model.name))}
        versions = []
        for i in range(count):
            model_id = ids[f"bench-{i // VERSIONS_PER_MODEL:05d}"]
            versions.append(
                {
                    "model_id": model_id,
                    "version": i % VERSIONS_PER_MODEL + 1,
                    "kind": "base",
                    "format": "safetensors",
                    "digest": digest_bytes(f"bench-{i}".encode()),
                    "size_bytes": 64,
                    "meta": {},
                    "stage": None,
                    "status": "active",
                    "created_at": now,
                    "created_by": "bench-author",
                }
            )
        for part in _chunks(versions):
            conn.execute(ModelVersion.__table__.insert(), part)  # type: ignore[attr-defined]
        rows = conn.execute(
            select(ModelVersion.id, ModelVersion.digest, Model.name, ModelVersion.version)
            .join(Model, Model.id == ModelVersion.model_id)
            .order_by(ModelVersion.id)
        ).all()
    evaluator = ws.as_actor("bench-eval")
    evidence: dict[str, list[str]] = {}
    for _vid, digest, name, version in rows[:with_evidence]:
        ref = f"model:{name}@{version}"
        record = evaluator.attach_evidence(ref, kind="eval", digest=digest, metrics={"acc": 0.9})
        evidence[ref] = [record.digest]
    with ws.db.write() as s:
        conn = s.connection()
        requests, request_ids = [], []
        for n, (vid, digest, name, version) in enumerate(rows):
            rid = uuid.uuid4().hex
            ref = f"model:{name}@{version}"
            snapshot = {
                "ref": ref,
                "to": "production",
                "version_digest": digest,
                "policy_digests": policy_digests,
                "evidence_digests": evidence.get(ref, []),
                "evaluation": {"seeded": True},
            }
            requests.append(
                {
                    "id": rid,
                    "asset_type": "model",
                    "version_id": vid,
                    "ref": ref,
                    "target_stage": "production",
                    "requested_by": "bench-sub",
                    "status": "pending",
                    "created_at": now - timedelta(seconds=count - n),
                    "expires_at": now + timedelta(days=7),
                    "decided_at": None,
                    "version_digest": digest,
                    "policy_digests": policy_digests,
                    "evidence_digests": evidence.get(ref, []),
                    "evaluation": {"seeded": True},
                    "required_approvals": {"validator": 1, "risk_officer": 1},
                    "separation_of_duties": True,
                    "snapshot_digest": digest_bytes(canonical_json(snapshot).encode()),
                    "reason": None,
                }
            )
            request_ids.append(rid)
        for part in _chunks(requests):
            conn.execute(ApprovalRequest.__table__.insert(), part)  # type: ignore[attr-defined]
    return request_ids


def seed_events(ws: Any, count: int, created: list[str] = []) -> None:  # noqa: B006 - read only
    """Append ``count`` events to the audit chain and re-sign its head.

    The first are the creation events of the versions ``created``, saying their author
    was authenticated by token (separation of duties needs to know who wrote a version);
    the rest are filler spread over 1,000 subjects.
    """
    from sqlalchemy import text

    from lmops_core.audit.chain import canonical_json, event_hash, sign_head
    from lmops_core.audit.keys import load_or_create_audit_key
    from lmops_core.registry.models import AuditEvent

    key = load_or_create_audit_key(ws.settings.home, ws.settings.audit_key)
    with ws.db.write() as s:
        conn = s.connection()
        seq, prev = conn.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
        batch: list[dict[str, Any]] = []
        for i in range(count):
            seq += 1
            ts = datetime.now(UTC).isoformat(timespec="microseconds")
            if i < len(created):
                action, subject = "model_version.create", created[i]
                after = canonical_json({"identity": "token"})
            else:
                action, subject = "bench.seed", f"model:bench-{i % 1000:05d}@1"
                after = canonical_json({"i": i})
            digest = event_hash(prev, seq, ts, "bench-seed", action, subject, "null", after)
            batch.append(
                {
                    "seq": seq,
                    "ts": ts,
                    "actor": "bench-seed",
                    "action": action,
                    "subject": subject,
                    "before": "null",
                    "after": after,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
            if len(batch) == 20_000:
                conn.execute(AuditEvent.__table__.insert(), batch)  # type: ignore[attr-defined]
                batch = []
        if batch:
            conn.execute(AuditEvent.__table__.insert(), batch)  # type: ignore[attr-defined]
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash, signature = :sig WHERE id = 1"),
            {"seq": seq, "hash": prev, "sig": sign_head(key, seq, prev)},
        )


# -- load ---------------------------------------------------------------------------------


class _Connection:
    """A minimal keep-alive HTTP/1.1 client connection, in the manner of ``wrk``.

    The load generator shares this 2-core machine with the server, so its own
    cost per request must be small: httpx spends ~1 ms of CPU per request and,
    at 50 connections, caps the whole run near 330 requests/s whatever the
    server does (the ``--httpx`` flag reruns the list with it, for comparison).
    Responses must carry Content-Length (the API's do).
    """

    def __init__(self, host: str, port: int, token: str, cookie: str = "") -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}\r\nAuthorization: Bearer {token}\r\n"
        if cookie:
            self.head += f"Cookie: {cookie}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        extra = (
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            if body is not None
            else ""
        )
        self.writer.write(f"{method} {path} HTTP/1.1\r\n{self.head}{extra}\r\n".encode() + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"{method} {path}: response without Content-Length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def _load(
    base: str,
    token: str,
    clients: int,
    jobs: list[tuple[str, str, Any]],
    *,
    use_httpx: bool = False,
    cookie: str = "",
) -> tuple[list[float], float, dict[int, int]]:
    """Run ``jobs`` (method, path, json) on ``clients`` concurrent keep-alive connections."""
    queue: asyncio.Queue[tuple[str, str, Any]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    if use_httpx:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        http = httpx.AsyncClient(
            base_url=base, limits=limits, timeout=120, headers={"Authorization": f"Bearer {token}"}
        )

        async def send(_worker: int, method: str, path: str, body: Any) -> int:
            return (await http.request(method, path, json=body)).status_code
    else:
        host, port = base.removeprefix("http://").split(":")
        conns = [_Connection(host, int(port), token, cookie) for _ in range(clients)]

        async def send(worker: int, method: str, path: str, body: Any) -> int:
            return (await conns[worker].request(method, path, body))[0]

    async def worker(index: int) -> None:
        while not queue.empty():
            method, path, body = queue.get_nowait()
            t0 = time.perf_counter()
            status = await send(index, method, path, body)
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1

    # The collector would pause the load generator itself (and show up as server latency).
    collecting = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        wall = time.perf_counter() - t0
    finally:
        if collecting:
            gc.enable()
        if use_httpx:
            await http.aclose()
        else:
            for conn in conns:
                await conn.close()
    return latencies, wall, statuses


def _row(name: str, lat: list[float], wall: float, statuses: dict[int, int]) -> str:
    return (
        f"| {name:<34} | {len(lat):>6} | {percentile(lat, 0.5) * 1e3:>8.1f} | "
        f"{percentile(lat, 0.99) * 1e3:>8.1f} | {len(lat) / wall:>8.1f} | "
        f"{json.dumps(statuses, sort_keys=True):<14} |"
    )


def _sdk_timings(fn: Any, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def console_cookie(base: str, token: str) -> str:
    """Sign in to the console with ``token`` through its form; the session cookie header."""
    import re

    with httpx.Client(base_url=base, timeout=60) as c:
        form = c.get("/console/sign-in")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if csrf is None:
            raise SystemExit("the console's sign-in form has no CSRF token")
        done = c.post(
            "/console/sign-in",
            data={"csrf": csrf[1], "next": "/console", "token": token},
            follow_redirects=False,
        )
        if done.status_code != 303 or "lmops_console" not in done.cookies:
            raise SystemExit(f"console sign-in failed: {done.status_code} {done.text[:200]}")
        return f"lmops_console={done.cookies['lmops_console']}"


def console_runs(
    base: str, cookie: str, clients: int, calls: int, request_ids: list[str]
) -> list[tuple[str, list[float], float, dict[int, int]]]:
    """Inbox and request pages under ``clients`` concurrent sessions' worth of load.

    Pages are computed once per store generation and user (like the JSON list), so
    the runs say which they measure: the same pages again (served from memory once
    computed), or ``calls`` distinct request pages, each computed for the first time.
    """
    runs = []

    def run(name: str, paths: list[str], n_clients: int) -> None:
        jobs = [("GET", path, None) for path in paths]
        lat, wall, st = asyncio.run(_load(base, "-", n_clients, jobs, cookie=cookie))
        runs.append((name, lat, wall, st))

    inbox = "/console?scope=all"
    run("console inbox warm-up", [inbox] * 100, clients)
    run(f"console inbox, {clients} clients", [inbox] * calls, clients)
    pages = [f"/console?scope=all&page={1 + i % 50}" for i in range(calls)]
    run(f"console inbox pages 1-50, {clients} cl.", pages, clients)
    same = [f"/console/requests/{rid}" for rid in request_ids[:clients]]
    run("request page warm-up", same, clients)
    run(f"request page, {clients} pages again", same * max(1, calls // clients), clients)
    fresh = [f"/console/requests/{rid}" for rid in request_ids[-calls:]]
    run(f"request page, {len(fresh)} distinct", fresh, clients)
    one = [f"/console/requests/{rid}" for rid in request_ids[-calls - 200 : -calls]]
    run("request page, distinct, 1 client", one, 1)
    return [r for r in runs if "warm-up" not in r[0]]


def _stats() -> dict[int, list[str]]:
    """The fields after the command name of every process's ``/proc/PID/stat``."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out[int(entry)] = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    return out


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) the process ``pid`` and the processes it
    started (its uvicorn workers) have used; None off Linux."""
    if not Path(f"/proc/{pid}/stat").exists():
        return None
    stats = _stats()
    tree, frontier = {pid}, {pid}
    while frontier:
        frontier = {p for p, f in stats.items() if int(f[1]) in frontier} - tree
        tree |= frontier
    ticks = sum(int(stats[p][11]) + int(stats[p][12]) for p in tree if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


class WriteTimer:
    """CPU time the calling thread spends inside ``db.write()`` transactions, and their count.

    Wraps the workspace's database: on SQLite one write transaction runs at a time
    whatever the number of server processes, so this share of an approval's CPU does
    not gain from more workers.
    """

    def __init__(self, db: Any) -> None:
        import contextlib

        self.cpu_s = 0.0
        self.count = 0
        write = db.write

        @contextlib.contextmanager
        def timed() -> Any:
            t0 = time.thread_time()
            try:
                with write() as session:
                    yield session
            finally:
                self.cpu_s += time.thread_time() - t0
                self.count += 1

        db.write = timed


def cpu_per_call(
    pid: int, base: str, token: str, jobs: list[tuple[str, str, Any]], cookie: str = ""
) -> str:
    """Server CPU ms per call and the calls/s one core would give, for ``jobs`` sent by one
    client (warm: the caller has already sent the same kind of call)."""
    before = server_cpu_s(pid)
    lat, _, st = asyncio.run(_load(base, token, 1, jobs, cookie=cookie))
    after = server_cpu_s(pid)
    if before is None or after is None:
        return "n/a (no /proc)"
    ms = (after - before) * 1e3 / len(lat)
    rate = f"{1e3 / ms:,.0f}" if ms > 0 else "inf"
    return f"{ms:6.2f} ms CPU/call, {rate} calls/s per core; statuses {st}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The sizes of a run: flag, default, what it counts.
COUNTS = [
    ("--requests", 10_000, "approval requests seeded, all pending"),
    ("--events", 100_000, "audit events seeded"),
    ("--verify-events", 1_000_000, "audit events the chain grows to before verify is timed"),
    ("--clients", 50, "concurrent keep-alive connections"),
    ("--list-calls", 2_000, "calls listing the pending requests"),
    ("--approvals", 1_000, "approvals sent over HTTP"),
    ("--sdk-calls", 200, "calls of the in-process baselines"),
    ("--console-calls", 1000, "calls per console run (0: none)"),
    ("--mixed-approvals", 300, "approvals sent while the list is polled (the mixed run)"),
    ("--cpu-calls", 100, "calls per route of the server-CPU runs (one client; 0: none)"),
]
#: The switches of a run: flag, what it does.
SWITCHES = [
    ("--no-verify", "skip growing the chain and timing verify"),
    ("--httpx", "also run the 50-client list with httpx as the client"),
]


def main() -> None:  # noqa: PLR0915 - a linear script reads best as one function
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--server-log-level", default="warning")
    ap.add_argument(
        "--workers", type=int, default=1, help="server processes, as lmops serve --workers"
    )
    for flag, default, help_text in COUNTS:
        ap.add_argument(flag, type=int, default=default, help=help_text)
    for flag, help_text in SWITCHES:
        ap.add_argument(flag, action="store_true", help=help_text)
    args = ap.parse_args()

    ws = bench_workspace(args.database_url, "lmops-bench-api-")
    settings, policies = ws.settings, ws.settings.policies_dir
    backend = "postgresql" if ws.db.dialect == "postgresql" else "sqlite"
    # Granting roles and deciding need a credential, not a name: the audited bootstrap.
    admin_token = ws.governance.bootstrap_admin("bench-admin")
    admin = ws.with_token(admin_token).governance
    val_token = admin.create_token("bench-val", role="validator")
    risk_token = admin.create_token("bench-risk", role="risk_officer")
    val2_token = admin.create_token("bench-val2", role="validator")

    t0 = time.perf_counter()
    approved = args.approvals + args.sdk_calls + args.mixed_approvals + args.cpu_calls
    request_ids = seed_requests(ws, args.requests, min(args.requests, approved))
    t_req = time.perf_counter() - t0
    t0 = time.perf_counter()
    created = [
        f"model:bench-{i // VERSIONS_PER_MODEL:05d}@{i % VERSIONS_PER_MODEL + 1}"
        for i in range(args.requests)
    ]
    seed_events(ws, max(args.events, len(created)), created)
    t_ev = time.perf_counter() - t0
    settle_store(ws)
    print(
        f"backend={backend}  seeded {args.requests} requests in {t_req:.1f} s and "
        f"{args.events} audit events in {t_ev:.1f} s (direct SQL, not through the API)"
    )

    port = _free_port()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LMOPS_HOME": str(settings.home),
        "LMOPS_POLICIES_DIR": str(policies),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_ACTOR": "server",
    }
    env.pop("LMOPS_DATABASE_URL", None)
    if args.database_url:
        env["LMOPS_DATABASE_URL"] = args.database_url
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER,
            str(port),
            args.server_log_level,
            str(args.workers),
        ],
        env=env,
        start_new_session=True,  # its workers are stopped with it
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Each worker process imports lmops and opens the store before it serves.
        deadline = time.monotonic() + 60 + 60 * args.workers
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the API server did not start")
            time.sleep(0.2)

        header = (
            f"| {'operation':<34} | {'calls':>6} | {'p50 ms':>8} | {'p99 ms':>8} | "
            f"{'req/s':>8} | {'statuses':<14} |"
        )
        print(
            f"\n{backend}: {args.clients} concurrent clients, {args.requests} pending "
            f"requests, {args.events}+ audit events, {args.workers} server process(es); "
            f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
        )
        print(header)
        print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")

        list_path = "/api/v1/requests?status=pending&limit=50"
        asyncio.run(_load(base, admin_token, args.clients, [("GET", list_path, None)] * 100))
        lat, wall, st = asyncio.run(
            _load(base, admin_token, args.clients, [("GET", list_path, None)] * args.list_calls)
        )
        list_p99 = percentile(lat, 0.99)
        print(_row(f"HTTP list pending, {args.clients} clients", lat, wall, st))
        if args.httpx:
            lat_h, wall_h, st_h = asyncio.run(
                _load(
                    base,
                    admin_token,
                    args.clients,
                    [("GET", list_path, None)] * args.list_calls,
                    use_httpx=True,
                )
            )
            print(_row("  same with the httpx client", lat_h, wall_h, st_h))
        lat1, wall1, st1 = asyncio.run(
            _load(base, admin_token, 1, [("GET", list_path, None)] * args.sdk_calls)
        )
        print(_row("HTTP list pending, 1 client", lat1, wall1, st1))
        sdk = ws.with_token(admin_token).governance
        sdk_lat = _sdk_timings(
            lambda _i: sdk.list_requests(status="pending", limit=50), args.sdk_calls
        )
        print(_row("SDK list pending, 1 caller (base)", sdk_lat, sum(sdk_lat), {}))
        # Server CPU per call (user + system time of the server process, one client, warm):
        # what a quiet machine could serve per core, whatever else loads this one.
        cpu: list[tuple[str, str]] = []
        n_cpu = args.cpu_calls
        if n_cpu:
            cpu.append(
                (
                    "list pending (same generation)",
                    cpu_per_call(server.pid, base, admin_token, [("GET", list_path, None)] * n_cpu),
                )
            )

        if args.console_calls:
            cookie = console_cookie(base, risk_token)
            for name, lat_c, wall_c, st_c in console_runs(
                base, cookie, args.clients, args.console_calls, request_ids
            ):
                print(_row(name, lat_c, wall_c, st_c))
            from lmops_core.api.console import views

            risk_ws = ws.with_token(risk_token)
            risk = risk_ws.governance.authenticate(risk_token)
            sdk_page = _sdk_timings(
                lambda i: views.request_view(risk_ws, risk, request_ids[-1 - i]), args.sdk_calls
            )
            print(_row("SDK request view, 1 caller (base)", sdk_page, sum(sdk_page), {}))
            sdk_inbox = _sdk_timings(
                lambda _i: views.inbox(risk_ws, risk, scope="all", asset_type="", target_stage=""),
                20,
            )
            print(_row("SDK inbox view, 1 caller (base)", sdk_inbox, sum(sdk_inbox), {}))
            if n_cpu:
                # The same page again and again: served from the page cache, so what is left
                # is the session, the generation read and the framework.
                first = [("GET", "/console?scope=all", None)] * n_cpu
                cpu.append(
                    (
                        "console inbox first page (cached)",
                        cpu_per_call(server.pid, base, "-", first, cookie),
                    )
                )
                pages = [
                    ("GET", f"/console?scope=all&page={1 + i % 50}", None) for i in range(n_cpu)
                ]
                cpu.append(
                    ("console inbox pages 1-50", cpu_per_call(server.pid, base, "-", pages, cookie))
                )
                unseen = request_ids[-args.console_calls - 200 - n_cpu : -args.console_calls - 200]
                fresh = [("GET", f"/console/requests/{rid}", None) for rid in unseen]
                cpu.append(
                    (
                        "request page, never opened",
                        cpu_per_call(server.pid, base, "-", fresh, cookie),
                    )
                )

        approve_jobs = [
            (
                "POST",
                f"/api/v1/requests/{rid}/approve",
                {"role": "validator", "comment": "bench approval"},
            )
            for rid in request_ids[: args.approvals]
        ]
        lat_a, wall_a, st_a = asyncio.run(_load(base, val_token, args.clients, approve_jobs))
        print(_row("HTTP approve (1 of 2 approvals)", lat_a, wall_a, st_a))
        val2 = ws.with_token(val2_token).governance
        # Lists while others write: each approval moves the store's generation, so the
        # listing cannot simply be served from the cache the read-only runs above reuse.
        # One reader and one writer at least: with --clients 1 the run has two connections.
        writers = max(1, args.clients // 10)
        readers = max(1, args.clients - writers)
        used = args.approvals + args.sdk_calls
        mixed_ids = request_ids[used : used + args.mixed_approvals]

        async def mixed() -> tuple[Any, Any]:
            return await asyncio.gather(
                _load(
                    base,
                    admin_token,
                    readers,
                    [("GET", list_path, None)] * args.list_calls,
                ),
                _load(
                    base,
                    val_token,
                    writers,
                    [
                        (
                            "POST",
                            f"/api/v1/requests/{rid}/approve",
                            {"role": "validator", "comment": "bench approval"},
                        )
                        for rid in mixed_ids
                    ],
                ),
            )

        (lat_m, wall_m, st_m), (lat_w, wall_w, st_w) = asyncio.run(mixed())
        print(_row(f"HTTP list, {readers} clients, while", lat_m, wall_m, st_m))
        if lat_w:  # none with --mixed-approvals 0
            print(_row(f"  {writers} clients approve", lat_w, wall_w, st_w))
        rest = request_ids[args.approvals : args.approvals + args.sdk_calls]
        writes = WriteTimer(ws.db)
        cpu_a0 = time.thread_time()
        sdk_a = _sdk_timings(
            lambda i: val2.decide(
                rest[i], approve=True, role="validator", comment="bench approval"
            ),
            len(rest),
        )
        cpu_a = time.thread_time() - cpu_a0
        print(_row("SDK approve, 1 caller (base)", sdk_a, sum(sdk_a), {}))
        if n_cpu:
            first = used + args.mixed_approvals
            approvals = [
                (
                    "POST",
                    f"/api/v1/requests/{rid}/approve",
                    {"role": "validator", "comment": "bench approval"},
                )
                for rid in request_ids[first : first + n_cpu]
            ]
            cpu.append(
                ("approve (1 of 2 approvals)", cpu_per_call(server.pid, base, val_token, approvals))
            )
            print(
                f"\nserver CPU per call ({backend}, 1 client, warm, "
                f"{args.workers} server process(es)):"
            )
            for name, figure in cpu:
                print(f"| {name:<34} | {figure}")
        if rest:
            print(
                f"SDK approve: {cpu_a * 1e3 / len(rest):.2f} ms CPU per approval, of which "
                f"{writes.cpu_s * 1e3 / len(rest):.2f} ms ({writes.cpu_s / cpu_a:.0%}) inside "
                f"{writes.count / len(rest):.1f} write transaction(s)"
                + (
                    " (one at a time on SQLite, whatever the workers)"
                    if backend == "sqlite"
                    else ""
                )
            )
        approve_p99 = percentile(lat_a, 0.99)
        # Little's law: C clients that each send their next call when the last returns wait
        # C / throughput on average, so p99 <= 100 ms needs at least C / 0.1 s approvals/s.
        needed = args.clients / 0.100
        print(
            f"approve p99 {approve_p99 * 1e3:.1f} ms vs target 100 ms: "
            f"{'MET' if approve_p99 <= 0.100 else 'NOT MET'}; at {len(lat_a) / wall_a:,.0f} "
            f"approvals/s, where {args.clients} clients need at least {needed:,.0f}/s for it"
            + (
                f"; the write lock alone admits at most {len(rest) / writes.cpu_s:,.0f}/s "
                "(in-process CPU inside it, above)"
                if backend == "sqlite" and rest and writes.cpu_s > 0
                else ""
            )
        )
        print(
            f"\nlist p99 {list_p99 * 1e3:.1f} ms vs target 50 ms: "
            f"{'MET' if list_p99 <= 0.050 else 'NOT MET'}; p50 ratio HTTP 1 client / SDK "
            f"(the API's own overhead) {percentile(lat1, 0.5) / percentile(sdk_lat, 0.5):.2f}x; "
            f"HTTP {args.clients} clients / SDK: list "
            f"{percentile(lat, 0.5) / percentile(sdk_lat, 0.5):.1f}x, approve "
            f"{percentile(lat_a, 0.5) / percentile(sdk_a, 0.5):.1f}x"
        )

        if args.no_verify:
            return
        with ws.db.read() as s:
            from sqlalchemy import text

            have = s.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one()
        grow = max(0, args.verify_events - have)
        t0 = time.perf_counter()
        seed_events(ws, grow)
        print(
            f"\ngrew the audit chain by {grow} events to {have + grow} in "
            f"{time.perf_counter() - t0:.1f} s (direct SQL)"
        )
        t0, c0 = time.perf_counter(), time.process_time()
        direct = ws.verify_audit()
        t_direct, c_direct = time.perf_counter() - t0, time.process_time() - c0
        cpu0 = server_cpu_s(server.pid)
        t0 = time.perf_counter()
        r = httpx.post(
            f"{base}/api/v1/audit/verify",
            timeout=600,
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        t_http = time.perf_counter() - t0
        cpu1 = server_cpu_s(server.pid)
        body = r.json()
        print(f"| {'audit verify':<28} | {'events':>9} | {'seconds':>8} | {'events/s':>10} | ok |")
        print(f"|{'-' * 30}|{'-' * 11}|{'-' * 10}|{'-' * 12}|----|")
        print(
            f"| {'SDK verify_audit (baseline)':<28} | {direct.events:>9} | {t_direct:>8.2f} | "
            f"{direct.events / t_direct:>10.0f} | {direct.ok} |"
        )
        print(
            f"| {'HTTP POST /audit/verify':<28} | {body['events']:>9} | {t_http:>8.2f} | "
            f"{body['events'] / t_http:>10.0f} | {body['ok']} |"
        )
        rate = body["events"] / t_http
        print(
            f"\nverify over HTTP {rate:,.0f} events/s vs target 200,000: "
            f"{'MET' if rate >= 200_000 else 'NOT MET'}; HTTP/SDK time ratio "
            f"{t_http / t_direct:.2f}x"
        )
        # On a machine other work loads, wall time says how much CPU this run was given;
        # CPU time says what the HTTP path itself costs against the in-process call.
        if cpu0 is not None and cpu1 is not None and cpu1 > cpu0:
            print(
                f"the server spent {cpu1 - cpu0:.2f} s of CPU on it: "
                f"{body['events'] / (cpu1 - cpu0):,.0f} events per CPU second, against "
                f"{direct.events / c_direct:,.0f} in-process (CPU ratio HTTP/SDK "
                f"{(cpu1 - cpu0) / c_direct:.2f}x)"
            )
    finally:
        if server.poll() is not None:
            print(f"the API server exited early with status {server.returncode}")
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        ws.close()


if __name__ == "__main__":
    main()
