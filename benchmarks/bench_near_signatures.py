"""``dedup-near``'s two halves on generated records: the workers' signatures and the caller's LSH.

On ``--records`` of ``bench_ray.py``'s generated instruction records (as canonical JSON
lines, in chunks of ``--chunk``), in one process, warm:

1. the baseline: one ``datasketch.MinHash(seed=1)`` per record fed its shingles
   (``update_batch``), plus a BLAKE2b hash per shingle for the exact check (the step
   as it was);
2. the step's :class:`NearSignatures` (datasketch's permutations read once, SHA-1 once
   per shingle, every record of a chunk permuted in one numpy pass);
3. the caller's half: :class:`NearDedup`'s LSH query, exact check and insert, record
   by record, on (2)'s signatures.

It checks that (1) and (2) give the same MinHash values for every record, then prints
records per CPU-second of each (this process's CPU time, so other load on the
machine does not count), the ratio of (2) to (1), and the load average.

    .venv/bin/python benchmarks/bench_near_signatures.py [--records 20000] [--chunk 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_ray import generate_records  # noqa: E402


def baseline(lines: list[bytes], num_perm: int, shingle: int) -> list[Any]:
    """Per record: its BLAKE2b shingle hashes and a fresh datasketch MinHash's values."""
    import json

    from datasketch import MinHash

    from lmops_core.builtins.near_signatures import compared_text, shingles

    out = []
    for raw in lines:
        text = compared_text("instruction", json.loads(raw), ("prompt", "response"))
        found = [s.encode() for s in shingles(text, shingle)]
        hashed = np.unique(
            np.fromiter(
                (
                    int.from_bytes(hashlib.blake2b(s, digest_size=8).digest(), "little")
                    for s in found
                ),
                dtype=np.uint64,
                count=len(found),
            )
        )
        mh = MinHash(num_perm=num_perm, seed=1)
        mh.update_batch(found)
        out.append((hashed, mh.hashvalues))
    return out


def main() -> None:
    from lmops_core.builtins.data_steps import NearDedup
    from lmops_core.builtins.near_signatures import NearSignatures
    from lmops_core.datasets.ingest import canonical_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--num-perm", type=int, default=128)
    args = parser.parse_args()
    lines = [canonical_json(r) for r in generate_records(args.records)]
    chunks = [lines[i : i + args.chunk] for i in range(0, len(lines), args.chunk)]
    signer = NearSignatures("instruction", ("prompt", "response"), args.num_perm, 3)()
    baseline(chunks[0][:50], args.num_perm, 3)  # warm: imports, first allocations
    signer(chunks[0][:50])

    started = time.process_time()
    old = [baseline(c, args.num_perm, 3) for c in chunks]
    old_s = time.process_time() - started
    started = time.process_time()
    new = [signer(c) for c in chunks]
    new_s = time.process_time() - started

    for old_chunk, new_chunk in zip(old, new, strict=True):
        for (_, want), got in zip(old_chunk, new_chunk.signatures(), strict=True):
            assert got is not None and np.array_equal(want, got[1]), "MinHash values differ"

    step = NearDedup()
    step.configure({"threshold": 0.8, "num_perm": args.num_perm, "shingle": 3})
    started = time.process_time()
    kept = sum(sum(step.decide("instruction", [], chunk)) for chunk in new)
    caller_s = time.process_time() - started

    n = args.records
    print(f"{n:,} records, chunks of {args.chunk:,}; same MinHash values: True")
    print(f"{'half':<44}{'rec per CPU-s':>14}{'x baseline':>12}")
    print(f"{'workers, datasketch MinHash per record':<44}{n / old_s:>14,.0f}{1.0:>12.2f}")
    print(
        f"{'workers, NearSignatures (chunk at a time)':<44}{n / new_s:>14,.0f}{old_s / new_s:>12.2f}"
    )
    print(f"{'caller, LSH query + exact check + insert':<44}{n / caller_s:>14,.0f}{'':>12}")
    print(f"kept {kept:,}, candidates {step.candidates:,} ({step.rejected:,} below threshold)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
