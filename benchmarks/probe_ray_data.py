"""Ray Data reading canonical partitions itself: order, bytes and the caller's memory.

The measurement behind the lmops-ray README's "why not Ray Data": builds (or
reuses) ``--records`` generated records as ten canonical partitions (the input
of ``bench_ray.py``), then runs ``read_parquet`` over the partition files with
``preserve_order``, ``map_batches`` on two actors (``length-filter``'s per-record
check, 2,000 records a batch, half a CPU each: with one CPU each, a 2-CPU Ray
leaves the read tasks none) and ``iter_batches`` in this process. It prints one
JSON line: the rows and kept records, whether the rows came back in the input's
order with the same bytes as ``read_partition`` gives (``--check``: read the
input once more in this process first), and this process's peak RSS with the
largest private (``RssAnon``), shared object-store (``RssShmem``) and file-mapped
(``RssFile``) parts seen while it consumed batches.

    .venv/bin/python benchmarks/probe_ray_data.py --records 1000000 \\
        [--object-store-mib 300] [--check] [--data-dir /tmp/lmops-bench-ray]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_ray import build_input  # noqa: E402

from lmops_core.builtins.data_steps import CHUNK_RECORDS, length_keeps  # noqa: E402
from lmops_core.datasets.partitions import COLUMN, partition_files, read_partition  # noqa: E402

#: What this process's memory holds, by part (KiB in /proc/self/status).
PARTS = ("RssAnon", "RssShmem", "RssFile")


def memory_parts() -> dict[str, int]:
    """The current private, shared and file-mapped resident memory of this process, MiB."""
    found: dict[str, int] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key = line.split(":", 1)[0]
            if key in PARTS:
                found[key] = int(line.split()[1]) // 1024
    return found


class KeepWorker:
    """One Ray Data actor: the step's chunk function, built once, on each batch's rows."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        lines = [text.encode() for text in batch[COLUMN].to_pylist()]
        return batch.append_column("keep", pa.array(self.function(lines), pa.bool_()))


def expected_digest(files: list[Path]) -> str:
    """SHA-256 over the input's rows as lmops reads them, newline after each."""
    digest = hashlib.sha256()
    for path in files:
        for raw in read_partition(path):
            digest.update(raw + b"\n")
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--object-store-mib", type=int, default=None)
    parser.add_argument("--check", action="store_true", help="compare the rows' bytes and order")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/lmops-bench-ray"))
    args = parser.parse_args()
    per_partition = max(args.records // 10, 1)
    source = build_input(
        args.data_dir / f"records-{args.records}-by-{per_partition}", args.records, per_partition
    )
    files = [path for _, path in partition_files(source)]
    expected = expected_digest(files) if args.check else None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    store = args.object_store_mib * 2**20 if args.object_store_mib else None
    ray.init(num_cpus=2, object_store_memory=store, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    started = time.perf_counter()
    check = functools.partial(length_keeps, "instruction", 40, 400)
    out = ray.data.read_parquet([str(p) for p in files]).map_batches(
        KeepWorker,
        fn_constructor_args=(check,),
        batch_size=CHUNK_RECORDS,
        compute=ray.data.ActorPoolStrategy(size=2),
        num_cpus=0.5,
        batch_format="pyarrow",
    )
    digest, rows, kept, peaks = hashlib.sha256(), 0, 0, dict.fromkeys(PARTS, 0)
    for batch in out.iter_batches(batch_size=None, batch_format="pyarrow"):
        for text in batch[COLUMN].to_pylist():
            digest.update(text.encode() + b"\n")
        rows += batch.num_rows
        kept += sum(batch["keep"].to_pylist())
        for key, mib in memory_parts().items():
            peaks[key] = max(peaks[key], mib)
    seconds = time.perf_counter() - started
    ray.shutdown()
    result = {
        "records": rows,
        "kept": kept,
        "seconds": round(seconds, 1),
        "same_rows_in_order": None if expected is None else digest.hexdigest() == expected,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_parts_mib": peaks,
        "object_store_mib": args.object_store_mib,
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
