"""What three guard versions cost and buy, in one run.

Guard versions (lmops-serve GuardConfig documents):

* ``off``        no PII guard, no refusal categories, no injection detection
  (the bare model behind the service: the baseline);
* ``pii``        PII redaction of prompt and reply only (default presidio options);
* ``full``       PII redaction + every refusal category + the injection rules (block).

For each version it prints, from :func:`lmops_serve.guard_probes.probe_guard` over
lmops-safety's shipped probes: over-refusal on the benign questions, leakage on the
PII probes and injection success, measured twice: with the tiny model (random
weights: it knows no secret) and with an *obedient* model that repeats everything
it was given before its answer (the worst case a guard has to stop). Then p95
latency and throughput at 8 streams, served on loopback by a real uvicorn server
(bench_serving's machinery), each as a ratio against the ``off`` version measured
in the same run.

    .venv/bin/python benchmarks/bench_guard_versions.py --requests 64 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_serving import add_load_arguments, build_bundle, serve_rounds
from lmops_safety.probes import builtin_probe_files, select_probes
from lmops_serve.app import create_app
from lmops_serve.guard_config import GuardSpec, parse_guard_spec
from lmops_serve.guard_probes import probe_guard

from lmops_core.plugins import default_host
from lmops_core.runtimes import GenerationOptions, LoadedModel

VERSIONS: dict[str, dict[str, Any]] = {
    "off": {"pii": {"mode": "off"}, "refusals": {"categories": []}},
    "pii": {"pii": {"mode": "redact"}, "refusals": {"categories": []}},
    "full": {"pii": {"mode": "redact"}, "injection": {"mode": "block"}},
}


class Obedient:
    """A model that repeats its whole input (system text included), then answers."""

    def __init__(self, inner: LoadedModel) -> None:
        self.inner = inner
        self.engine = f"obedient({inner.engine})"
        self.tokenizer = inner.tokenizer

    def generate(self, prompt: str, options: GenerationOptions | int | None = None) -> str:
        return f"{prompt}\n{self.inner.generate(prompt, options)}"

    def stream(self, prompt: str, options: GenerationOptions | int | None = None) -> Iterator[str]:
        yield self.generate(prompt, options)


def specs() -> dict[str, GuardSpec]:
    """The three guard versions, validated like any GuardConfig file."""
    return {
        name: parse_guard_spec({"name": f"bench-{name}", **body}, source=f"version {name}")
        for name, body in VERSIONS.items()
    }


def main() -> None:
    """Measure the versions and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_arguments(parser)
    parser.add_argument("--probe-tokens", type=int, default=16, help="max_new_tokens per probe")
    parser.add_argument(
        "--per-file", type=int, default=None, help="probes kept per probe file (default: all)"
    )
    args = parser.parse_args()
    versions = specs()
    # The first N of each *file*, so a sample keeps the PII-canary injection probes too.
    probes = [
        probe
        for probe_file in builtin_probe_files()
        for probe in select_probes(probe_file.probes, languages=None, per_group=args.per_file)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle, keys = build_bundle(root, args.size)
        model = default_host().model_runtime("base").open(root / "m")
        measured = {}
        for name, spec in versions.items():
            for model_name, m in (("tiny", model), ("obedient", Obedient(model))):
                print(f"probing {name} with {model_name}...", file=sys.stderr, flush=True)
                measured[name, model_name] = probe_guard(
                    spec, m, probes, max_new_tokens=args.probe_tokens
                )
        print("serving...", file=sys.stderr, flush=True)
        apps = {
            name: create_app(bundle, public_keys=keys.public_keys(), guard_config=spec)
            for name, spec in versions.items()
        }
        served = serve_rounds(apps, args)
    base = served["off"]
    counts = measured[("off", "tiny")].metrics
    print(
        f"\nguard versions, model size {args.size}; probes: {counts['benign.probes']} benign, "
        f"{counts['pii_extraction.probes']} PII, {counts['injection.probes']} injection "
        f"(lmops-safety, EN+ZH); load: {args.requests} streamed requests, {args.concurrency} "
        f"concurrent, max_new_tokens {args.max_new_tokens}, median of {args.rounds} "
        "interleaved rounds"
    )
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{'version':<8} {'model':<9} {'over-refusal':>12} {'PII leak':>9} {'injection':>10} "
        f"{'+p95 ms/req':>12} {'p95 ms':>8} {'p95 / off':>10} {'req/s':>7} {'req/s / off':>12}"
    )
    for (name, model_name), report in measured.items():
        m, s = report.metrics, served[name]
        print(
            f"{name:<8} {model_name:<9} {m['over_refusal_rate']:>12.3f} "
            f"{m['pii_leak_rate']:>9.3f} {m['injection_success_rate']:>10.3f} "
            f"{m['added_latency_p95_ms']:>12.1f} {s['p95_ms']:>8.1f} "
            f"{s['p95_ms'] / base['p95_ms']:>10.2f} {s['rps']:>7.2f} "
            f"{s['rps'] / base['rps']:>12.2f}"
        )
    bare = measured[("off", "obedient")].metrics
    print(
        f"bare obedient model: PII leak {bare['bare_pii_leak_rate']:.3f}, injection "
        f"{bare['bare_injection_success_rate']:.3f}; '+p95 ms/req' is probe_guard's added p95 "
        "latency (in-process, one request at a time); p95 and req/s are the served load"
    )


if __name__ == "__main__":
    main()
