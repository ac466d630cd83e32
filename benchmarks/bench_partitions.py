"""Partitioned datasets: writing canonical partitions, registering them, verifying them.

Generates N instruction records (default 200,000; a tenth in Chinese, a twentieth repeated),
writes them as P typed Parquet files (default 8, as another engine would leave them; not
timed), then measures, each against a baseline run in the same process on the same data:

1. write: the records as canonical partitions (:func:`write_partition`) against plain
   ``pyarrow.parquet.write_table`` of the same records as a typed table (zstd), per record;
2. register: ``register_dataset`` of the folder (validate, rewrite, store each partition,
   per-partition cards merged) against ``register_dataset`` of the same records as one JSONL
   file (the single-file path it replaces for large data);
3. verify: ``verify_dataset`` with W workers (default 4) against plain serial ``hashlib``
   over the same stored partition files (no lmops at all).

Prints a table: what, seconds, baseline seconds, ratio (baseline / lmops; above 1 is faster).

    .venv/bin/python benchmarks/bench_partitions.py [--records 200000] [--partitions 8]
        [--workers 4]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lmops_core.datasets.partitions import PartitionManifest, write_partition
from lmops_core.registry.schemas import DatasetVersionPublic
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

_WORDS = [
    "the",
    "a",
    "transfer",
    "card",
    "account",
    "rate",
    "loan",
    "fee",
    "branch",
    "limit",
    "due",
    "statement",
]
_HANZI = "账户转账利率贷款费用分行额度到期对账单信用卡"


def records(n: int) -> list[dict[str, Any]]:
    rng = random.Random(0)  # text of real entropy: zstd must not shrink it to nothing
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 20 == 19:  # every twentieth record repeats an earlier one
            out.append(dict(out[rng.randrange(len(out))]))
        elif i % 10 == 3:
            answer = "".join(rng.choice(_HANZI) for _ in range(rng.randint(5, 120)))
            out.append({"prompt": f"问题 {i} 的答案是什么?", "response": answer})
        else:
            words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 80)))
            out.append({"prompt": f"Question {i}: {rng.random():.6f}?", "response": words})
    return out


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    data = records(args.records)
    per = -(-len(data) // args.partitions)
    chunks = [data[k * per : (k + 1) * per] for k in range(args.partitions)]
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-partitions-") as scratch:
        root = Path(scratch)
        user, plain, ours = root / "user", root / "plain", root / "ours"
        for folder in (user, plain, ours):
            folder.mkdir()
        for k, chunk in enumerate(chunks):  # the input, as another engine wrote it
            pq.write_table(pa.Table.from_pylist(chunk), user / f"part-{k:05d}.parquet")
        whole = root / "whole.jsonl"
        with open(whole, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in data)

        def plain_write() -> None:
            for k, chunk in enumerate(chunks):
                table = pa.Table.from_pylist(chunk)
                pq.write_table(table, plain / f"part-{k:05d}.parquet", compression="zstd")

        def our_write() -> None:
            for k, chunk in enumerate(chunks):
                write_partition(chunk, ours / f"part-{k:05d}.parquet")

        plain_write(), our_write()  # warm both
        rows.append(("write partitions", timed(our_write), timed(plain_write)))

        ws = Workspace.open(Settings(home=root / "home", load_entry_points=False))  # type: ignore[call-arg]
        box: dict[str, Any] = {}

        def register_parts() -> None:
            box["parts"] = ws.register_dataset("parts", user, shape="instruction")

        def register_whole() -> None:
            ws.register_dataset("whole", whole, shape="instruction")

        rows.append(("register", timed(register_parts), timed(register_whole)))
        version = box["parts"]
        assert isinstance(version, DatasetVersionPublic) and version.manifest_digest
        manifest = PartitionManifest.from_bytes(
            ws.artifacts.read_bytes(version.manifest_digest), digest=version.manifest_digest
        )
        blobs = ws.settings.home / "artifacts" / "blobs" / "sha256"
        files = [blobs / p.digest[7:9] / p.digest[9:] for p in manifest.partitions]

        def plain_hash() -> None:
            for path in files:
                h = hashlib.sha256()
                with open(path, "rb") as fh:
                    while chunk := fh.read(1024 * 1024):
                        h.update(chunk)

        plain_hash()
        ok = ws.verify_dataset(version.ref, workers=args.workers).ok
        assert ok
        rows.append(
            (
                f"verify ({args.workers} workers)",
                timed(lambda: ws.verify_dataset(version.ref, workers=args.workers)),
                timed(plain_hash),
            )
        )
        ws.close()
        size = manifest.size
    print(f"{len(data)} records in {args.partitions} partitions, {size / 1e6:.1f} MB canonical")
    print(f"{'what':<22} {'lmops s':>9} {'baseline s':>11} {'ratio':>7}")
    for what, ours_s, base_s in rows:
        print(f"{what:<22} {ours_s:>9.3f} {base_s:>11.3f} {base_s / ours_s:>7.2f}")


if __name__ == "__main__":
    main()
