"""Data steps on the local engine and on Ray with 1 and 2 workers: records/s and peak RSS.

1. Build the input once, outside git (``--data-dir``): ``--records`` generated
   instruction records (default 1,000,000), a tenth of them exact copies and a
   tenth near copies of earlier ones, as canonical Parquet partitions of
   ``--partition-records`` records (the layout a large dataset version has).
2. Run ``--step`` (default ``dedup-near``, the one with the most work per record)
   in a fresh process per configuration, on the same partitions: the local engine
   (the baseline: the step as it runs without Ray), then Ray with each of
   ``--workers`` on a local Ray of as many CPUs as the machine has. Each run
   writes output partitions, then checks them and builds the dataset card on the
   same engine (as the runner does when it stores the output); it reports both
   times, the driver's peak RSS, the largest peak RSS of one Ray worker process (in
   the step, and in the card) and the CPU seconds of the driver and of its children
   (Ray's workers are children of a local Ray). On Ray the step and the card are Ray
   Data pipelines (the workers read the partitions, and for the filters write them).
3. Print the scaling curve (records/s and the ratio to the local engine) and check
   that every engine wrote the same partitions (the same Merkle root) and card.

    .venv/bin/python benchmarks/bench_ray.py [--records 1000000] [--step dedup-near]
        [--workers 1,2] [--partition-records 100000] [--data-dir /tmp/lmops-bench-ray]

Ray's start (tens of seconds on a loaded machine) is outside the timed part; each
step's start of its actors is inside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from peak_rss import peak_rss_mib

PARAMS: dict[str, dict[str, Any]] = {
    "dedup-exact": {},
    "dedup-near": {"threshold": 0.8},
    "length-filter": {"min_chars": 40, "max_chars": 400},
}


def generate_records(records: int, seed: int = 11) -> Iterator[dict[str, str]]:
    """``records`` instruction records: a tenth exact copies, a tenth near copies of earlier ones."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(5000)]
    rows: list[dict[str, str]] = []
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
        yield row


def build_input(folder: Path, records: int, per_partition: int, seed: int = 11) -> Path:
    """``records`` instruction records as canonical partitions, written once and reused."""
    from lmops_core.datasets.ingest import canonical_json
    from lmops_core.datasets.partitions import PartitionWriter

    if folder.exists():
        return folder
    tmp = folder.with_suffix(".part")
    shutil.rmtree(tmp, ignore_errors=True)
    writer: PartitionWriter | None = None
    for i, row in enumerate(generate_records(records, seed)):
        if i % per_partition == 0:
            if writer is not None:
                writer.close()
            writer = PartitionWriter(tmp / f"part-{i // per_partition:05d}.parquet")
        assert writer is not None
        writer.add(canonical_json(row))
    if writer is not None:
        writer.close()
    tmp.rename(folder)
    return folder


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


def _cpu_seconds() -> tuple[float, float]:
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


def child(engine: str, step: str, source: Path, workers: int) -> None:
    """Run ``step`` once on ``engine``, then check and card its output; print one JSON line."""
    from lmops_core.artifacts.local import LocalArtifactBackend
    from lmops_core.artifacts.store import ArtifactStore
    from lmops_core.contracts import InputAsset, Stage, StageContext
    from lmops_core.datasets.partition_store import ingest_partitions
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="lmops-bench-ray-", dir=source.parent))
    settings = Settings(home=home, load_entry_points=False, plugins=["lmops_ray.plugin"])
    services = _Recording(load_plugins(settings))
    op = services.host.operation(Stage.DATA_PREPARATION, step).value
    if engine == "ray":
        os.environ["LMOPS_RAY_WORKERS"] = str(workers)
    mapper = services.data_engine(engine)  # starts the local Ray, outside the timed part
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
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    result = op.run(context)
    seconds = time.perf_counter() - started
    step_peaks = dict(getattr(services.mapper, "worker_peaks", {}))
    if hasattr(mapper, "worker_peaks"):
        mapper.worker_peaks = {}
    (home / "tmp").mkdir()
    started = time.perf_counter()
    stored = ingest_partitions(
        result.outputs[0].path,
        shape="instruction",
        artifacts=ArtifactStore(LocalArtifactBackend(home / "artifacts")),
        tmp_dir=home / "tmp",
        mapper=mapper,
    )
    card_seconds = time.perf_counter() - started
    card_peaks = dict(getattr(mapper, "worker_peaks", {}))
    cpu_after = _cpu_seconds()
    card = json.dumps([stored.card_metrics, stored.card_details], sort_keys=True)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "card_seconds": card_seconds,
                "root": stored.root,
                "card_sha256": hashlib.sha256(card.encode()).hexdigest(),
                "driver_peak_mib": peak_rss_mib(),
                "worker_peak_mib": max((kib for kib in step_peaks.values()), default=0) / 1024,
                "card_worker_peak_mib": max((kib for kib in card_peaks.values()), default=0) / 1024,
                "worker_processes": len(step_peaks),
                "cpu_driver_s": cpu_after[0] - cpu_before[0],
                "removed": result.evidence[0].metrics["records_removed"],
            }
        )
    )
    shutil.rmtree(home, ignore_errors=True)


def _peaks(row: dict[str, Any]) -> str:
    """The largest peak RSS of one worker process, in the step and in the card (MiB)."""
    if not row["worker_processes"]:
        return "-"
    return f"{row['worker_peak_mib']:.0f} / {row['card_worker_peak_mib']:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="generated records")
    parser.add_argument("--step", choices=sorted(PARAMS), default="dedup-near")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts, comma-separated")
    parser.add_argument(
        "--partition-records", type=int, default=100_000, help="records per input partition"
    )
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lmops-bench-ray"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, step, source, workers = args.child
        child(engine, step, Path(source), int(workers))
        return
    started = time.perf_counter()
    source = build_input(
        args.data_dir / f"records-{args.records}-by-{args.partition_records}",
        args.records,
        args.partition_records,
    )
    print(
        f"input: {source} ({args.records:,} records, built/reused in "
        f"{time.perf_counter() - started:.1f} s); step {args.step}",
        flush=True,
    )
    configs = [("local", 1)] + [("ray", int(w)) for w in args.workers.split(",")]
    rows = []
    for engine, workers in configs:
        cmd = [sys.executable, __file__, "--child", engine, args.step, str(source), str(workers)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{engine} x{workers} failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        # The child and every process of its tree once reaped (a local Ray's workers are
        # reaped by its raylet, which the child shuts down and waits for).
        row["cpu_process_tree_s"] = (after.ru_utime + after.ru_stime) - (
            before.ru_utime + before.ru_stime
        )
        rows.append((engine, workers, row))
        print(f"  {engine} x{workers}: {rows[-1][2]}", flush=True)
    base = args.records / rows[0][2]["seconds"]
    card_base = args.records / rows[0][2]["card_seconds"]
    print(
        f"\n{'engine':<8}{'workers':>8}{'records/s':>12}{'x local':>9}{'card rec/s':>12}"
        f"{'x local':>9}{'CPU s driver/all':>18}{'driver MiB':>12}"
        f"{'worker MiB (step/card)':>24}"
    )
    for engine, workers, r in rows:
        rate = args.records / r["seconds"]
        card_rate = args.records / r["card_seconds"]
        print(
            f"{engine:<8}{workers:>8}{rate:>12,.0f}{rate / base:>9.2f}{card_rate:>12,.0f}"
            f"{card_rate / card_base:>9.2f}"
            f"{r['cpu_driver_s']:>10.0f} / {r['cpu_process_tree_s']:<5.0f}"
            f"{r['driver_peak_mib']:>12.0f}"
            f"{_peaks(r):>24}"
        )
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    same = len({(r["root"], r["card_sha256"]) for _, _, r in rows}) == 1
    print(
        f"\nsame partitions (Merkle root {rows[0][2]['root']}) and card on every engine: {same} "
        f"(records removed: {rows[0][2]['removed']:,})"
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
