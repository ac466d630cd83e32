"""Data steps on the local engine and on Ray with 1 and 2 workers: records/s and peak RSS.

1. Build the input once, outside git (``--data-dir``): ``--records`` generated
   instruction records (default 1,000,000), a tenth of them exact copies and a
   tenth near copies of earlier ones, as canonical JSONL.
2. Run ``--step`` (default ``dedup-near``, the one with the most work per record)
   in a fresh process per configuration, on the same file: the local engine (the
   baseline: the step as it runs without Ray), then Ray with each of ``--workers``
   on a local Ray of as many CPUs as the machine has. Each run reports its time,
   the driver's peak RSS and each Ray worker's peak RSS.
3. Print the scaling curve (records/s and the ratio to the local engine) and check
   that every engine wrote the same bytes (the same SHA-256).

    .venv/bin/python benchmarks/bench_ray.py [--records 1000000] [--step dedup-near]
        [--workers 1,2] [--data-dir /tmp/lmops-bench-ray]

Ray's start (tens of seconds on a loaded machine) is outside the timed part; its
per-run pipeline start-up is inside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PARAMS: dict[str, dict[str, Any]] = {
    "dedup-exact": {},
    "dedup-near": {"threshold": 0.8},
    "length-filter": {"min_chars": 40, "max_chars": 400},
}


def build_input(path: Path, records: int, seed: int = 11) -> Path:
    """``records`` instruction records in canonical JSON, written once and reused."""
    if path.exists():
        return path
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    rows: list[dict[str, str]] = []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8") as out:
        for i in range(records):
            roll = rng.random()
            if rows and roll < 0.1:
                row = dict(rng.choice(rows))
            elif rows and roll < 0.2:
                row = dict(rng.choice(rows))
                row["response"] += f" {rng.choice(vocab)}"
            else:
                prompt = " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 40)))
                answer = " ".join(rng.choice(vocab) for _ in range(rng.randint(8, 60)))
                row = {"prompt": f"{i} {prompt}", "response": answer}
            if len(rows) < 20_000:
                rows.append(row)
            else:
                rows[rng.randrange(len(rows))] = row
            out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
    tmp.rename(path)
    return path


class _Recording:
    """The plugin host, keeping the engine it hands out (to read its workers' peak RSS)."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.mapper: Any = None

    def data_engine(self, name: str | None = None) -> Any:
        self.mapper = self.host.data_engine(name)
        return self.mapper

    def __getattr__(self, name: str) -> Any:
        return getattr(self.host, name)


def child(engine: str, step: str, source: Path, workers: int) -> None:
    """Run ``step`` once on ``engine`` and print what it measured as one JSON line."""
    from lmops_core.contracts import InputAsset, Stage, StageContext
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="lmops-bench-ray-"))
    settings = Settings(home=home, load_entry_points=False, plugins=["lmops_ray.plugin"])
    services = _Recording(load_plugins(settings))
    op = services.host.operation(Stage.DATA_PREPARATION, step).value
    if engine == "ray":
        os.environ["LMOPS_RAY_WORKERS"] = str(workers)
        services.data_engine("ray")  # starts the local Ray, outside the timed part
    options = op.params_model.model_validate({**PARAMS[step], "engine": engine})
    context = StageContext(
        stage=Stage.DATA_PREPARATION,
        operation=step,
        inputs={"dataset": InputAsset("dataset", "bench", "dataset", "instruction", "-", source)},
        params=options.model_dump(),
        workdir=home,
        actor="bench",
        run_id="bench",
        options=options,
        plugins=services,  # type: ignore[arg-type]
    )
    started = time.perf_counter()
    result = op.run(context)
    seconds = time.perf_counter() - started
    out = result.outputs[0].path
    peaks = getattr(services.mapper, "worker_peaks", {})
    print(
        json.dumps(
            {
                "seconds": seconds,
                "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
                "driver_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "worker_peak_mib": sorted(round(kib / 1024) for kib in peaks.values()),
                "removed": result.evidence[0].metrics["records_removed"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="generated records")
    parser.add_argument("--step", choices=sorted(PARAMS), default="dedup-near")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts, comma-separated")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lmops-bench-ray"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, step, source, workers = args.child
        child(engine, step, Path(source), int(workers))
        return
    started = time.perf_counter()
    source = build_input(args.data_dir / f"records-{args.records}.jsonl", args.records)
    print(
        f"input: {source} ({args.records:,} records, built/reused in "
        f"{time.perf_counter() - started:.1f} s); step {args.step}",
        flush=True,
    )
    configs = [("local", 1)] + [("ray", int(w)) for w in args.workers.split(",")]
    rows = []
    for engine, workers in configs:
        cmd = [sys.executable, __file__, "--child", engine, args.step, str(source), str(workers)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{engine} x{workers} failed:\n{done.stderr[-3000:]}")
        rows.append((engine, workers, json.loads(done.stdout.strip().splitlines()[-1])))
        print(f"  {engine} x{workers}: {rows[-1][2]}", flush=True)
    base = args.records / rows[0][2]["seconds"]
    print(
        f"\n{'engine':<8}{'workers':>8}{'records/s':>12}{'x local':>9}"
        f"{'driver MiB':>12}  worker peak MiB"
    )
    for engine, workers, r in rows:
        rate = args.records / r["seconds"]
        print(
            f"{engine:<8}{workers:>8}{rate:>12,.0f}{rate / base:>9.2f}"
            f"{r['driver_peak_mib']:>12.0f}  {r['worker_peak_mib'] or '-'}"
        )
    same = len({r["sha256"] for _, _, r in rows}) == 1
    print(f"\nsame output on every engine: {same} (records removed: {rows[0][2]['removed']:,})")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
