"""Benchmark of the guarded inference service (lmops-serve) on loopback.

Builds a tiny model, promotes it through the approval workflow, packages it
as a signed bundle, then for each configuration serves it with a real uvicorn
server (in this process, on a loopback port) and drives it with 8 concurrent
httpx streaming clients (server-sent events). Per configuration it prints
requests/s, p50/p95 latency and p95 time to first token:

* ``no guard``        guard_mode="off", no inference log (the baseline);
* ``guard (redact)``  PII redaction of prompt and streamed reply + refusal check;
* ``guard + log``     the same plus the redacted JSONL inference log.

The guard's cost is printed as ratios against the baseline measured in the
same run.

    .venv/bin/python benchmarks/bench_serving.py --requests 64 --max-new-tokens 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from lmops_serve.app import create_app
from lmops_serve.server import BackgroundServer

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace
from policies import production_policy

POLICY = production_policy()

PROMPTS = [
    "Tell me about rivers and mountains.",
    "My email is jane.doe@example.com, can you write me a short note?",
    "Summarise the plot of a short story about a lighthouse.",
    "Call me on +1 415 555 0100 about card 4111 1111 1111 1111.",
]
#: Words that make every request's prompt (and so its greedy reply) differ from the others':
#: repeated texts would let the guard's de-duplication do work a real service never sees.
TOPICS = ("harbour", "orchard", "glacier", "market", "violin", "lantern", "meadow", "comet")


def prompt_for(i: int) -> str:
    """The ``i``-th request's prompt: one of :data:`PROMPTS` with a topic pair of its own."""
    n = len(TOPICS)
    return (
        f"{PROMPTS[i % len(PROMPTS)]} Mention a {TOPICS[i // 4 % n]} and a {TOPICS[i // 32 % n]}."
    )


def build_bundle(root: Path, size: str) -> tuple[Path, KeyStore]:
    """A model promoted by validator + risk officer and packaged for production."""
    from lmops_hf.base_model import create_base_model

    policies = root / "policies"
    policies.mkdir()
    (policies / "bench.yaml").write_text(POLICY)
    ws = Workspace.open(
        Settings(home=root / "home", actor="root", load_entry_points=False, policies_dir=policies)
    )
    # Decisions need a credential, not a name: the audited bootstrap, then a token per user.
    admin = ws.with_token(ws.governance.bootstrap_admin("root")).governance
    acting = {
        user: ws.with_token(admin.create_token(user, role=role))
        for user, role in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer"))
    }
    v = acting["eng"].register_model("bench", create_base_model(root / "m", size=size))
    req = acting["eng"].governance.request_promotion(v.ref, to="production")
    acting["val"].governance.decide(req.id, approve=True, role="validator", comment="ok")
    acting["risk"].governance.decide(req.id, approve=True, role="risk_officer", comment="ok")
    keys = KeyStore.for_home(ws.settings.home)  # its key attested the token decisions
    path = create_bundle(ws, v.ref, root / "bundle", stage="production", keys=keys).path
    ws.close()
    return path, keys


async def one_stream(
    client: httpx.AsyncClient, prompt: str, max_new_tokens: int
) -> tuple[float, float]:
    """(latency s, time to first token event s) of one streamed request."""
    started = time.perf_counter()
    first = 0.0
    async with client.stream(
        "POST", "/v1/generate/stream", json={"prompt": prompt, "max_new_tokens": max_new_tokens}
    ) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line == "event: token" and not first:
                first = time.perf_counter() - started
            if line == "event: error":
                raise RuntimeError("stream ended with an error event")
    return time.perf_counter() - started, first


async def drive(url: str, requests: int, concurrency: int, max_new_tokens: int) -> dict[str, float]:
    """Send ``requests`` streamed requests, ``concurrency`` at a time."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(prompt_for(i))
    latencies: list[float] = []
    ttfts: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            prompt = queue.get_nowait()
            lat, first = await one_stream(client, prompt, max_new_tokens)
            latencies.append(lat)
            ttfts.append(first)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        for prompt in PROMPTS[:2]:  # warm-up: engines load lazily
            await one_stream(client, prompt, max_new_tokens)
        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    q = statistics.quantiles(latencies, n=20)
    t = statistics.quantiles(ttfts, n=20)
    return {
        "rps": requests / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": q[18] * 1000,
        "ttft_p95_ms": t[18] * 1000,
        # Server and clients share this process: the CPU of every thread, per request.
        "cpu_ms": cpu / requests * 1000,
    }


def serve_rounds(apps: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Each app served on loopback and driven in turn, ``args.rounds`` times; per app, the
    median of each figure over the rounds.

    Rounds interleave the apps, so load from other processes on a shared machine hits
    them alike.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            with BackgroundServer(app) as url:
                runs[name].append(
                    asyncio.run(drive(url, args.requests, args.concurrency, args.max_new_tokens))
                )
    return {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the load :func:`serve_rounds` drives."""
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--size", choices=["tiny", "bench"], default="tiny")
    parser.add_argument("--rounds", type=int, default=3)


def main() -> None:
    """Run the configurations and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle, keys = build_bundle(root, args.size)
        configs: list[tuple[str, dict[str, Any]]] = [
            ("no guard", {"guard_mode": "off"}),
            ("guard (redact)", {"guard_mode": "redact"}),
            ("guard + log", {"guard_mode": "redact", "log_path": root / "log.jsonl"}),
        ]
        apps = {
            name: create_app(bundle, public_keys=keys.public_keys(), **kwargs)
            for name, kwargs in configs
        }
        results = serve_rounds(apps, args)
    base = results["no guard"]
    print(
        f"\nlmops-serve, model size {args.size}, {args.requests} streamed requests, "
        f"{args.concurrency} concurrent, max_new_tokens {args.max_new_tokens}, "
        f"median of {args.rounds} interleaved rounds"
    )
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'config':<16} {'req/s':>8} {'p50 ms':>9} {'p95 ms':>9} {'ttft p95 ms':>12} "
        f"{'cpu ms/req':>11} {'p95 / base':>11} {'req/s / base':>13} {'cpu / base':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:<16} {r['rps']:>8.2f} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} "
            f"{r['ttft_p95_ms']:>12.1f} {r['cpu_ms']:>11.1f} "
            f"{r['p95_ms'] / base['p95_ms']:>11.2f} {r['rps'] / base['rps']:>13.2f} "
            f"{r['cpu_ms'] / base['cpu_ms']:>11.2f}"
        )


if __name__ == "__main__":
    main()
