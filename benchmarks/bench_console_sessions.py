"""Console session lookups: read from the store every time vs kept per access generation.

``SessionStore.get(session_id)`` reads the session row by primary key and unseals the
token on every call (what every console request did before sessions were kept per
access generation); ``get(session_id, generation=g)`` serves the session from memory
while the access generation ``g`` stands still. Both run alternately in one process on
the same store; the figures are CPU and wall microseconds per lookup (wall matters on
PostgreSQL: the lookup runs on the server's event loop, and a read is a round trip).

    python benchmarks/bench_console_sessions.py [--database-url URL] [--calls 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import bench_workspace  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from lmops_core.api.cache import read_generations
    from lmops_core.api.sessions import SessionStore

    ws = bench_workspace(args.database_url, "lmops-bench-sessions-")
    admin = ws.with_token(ws.governance.bootstrap_admin("bench-admin")).governance
    principal = ws.governance.authenticate(admin.create_token("bench-risk", role="risk_officer"))
    store = SessionStore(lambda: ws.db, timedelta(hours=1))
    session_id, _ = store.start(principal)
    generation = read_generations(ws.db).access
    ways = {"read every time (base)": None, "kept per access generation": generation}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    wall: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, gen in ways.items():  # alternated, same store, same session
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(args.calls):
                if store.get(session_id, generation=gen) is None:
                    raise SystemExit("the session was not found")
            cpu[name].append((time.process_time() - c0) * 1e6 / args.calls)
            wall[name].append((time.perf_counter() - w0) * 1e6 / args.calls)
    print(f"backend={ws.db.dialect} calls={args.calls} rounds={args.rounds}")
    for name in ways:
        print(
            f"  {name}: median CPU {statistics.median(cpu[name]):.1f} us/lookup, "
            f"median wall {statistics.median(wall[name]):.1f} us/lookup"
        )
    base, kept = (statistics.median(wall[name]) for name in ways)
    print(f"  wall ratio base / kept: {base / kept:.0f}x")


if __name__ == "__main__":
    main()
