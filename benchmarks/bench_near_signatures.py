"""``dedup-near``'s two halves on generated records: the workers' signatures and the caller's LSH.

On ``--records`` of ``bench_ray.py``'s generated instruction records (as canonical JSON
lines, in chunks of ``--chunk``), in one process, warm, in ``--rounds`` rounds that
alternate the ways below (each way's best round is printed):

1. the baseline, datasketch's best plain use: per chunk, the same records parsed and
   shingled by the step's own functions, then ``datasketch.MinHash.bulk`` (one template
   ``MinHash(num_perm, seed=1)`` whose permutations every record's copy reuses). It
   computes the MinHash values only; the step also gives each record's shingle hashes
   for the exact check, so the baseline does less work than the step;
2. for reference only, the step's previous code (not the baseline): a fresh
   ``datasketch.MinHash(seed=1)`` per record fed its shingles (``update_batch``), plus a
   BLAKE2b hash per shingle for the exact check;
3. the step's :class:`NearSignatures` (datasketch's permutations read once, SHA-1 once
   per shingle, every record of a chunk permuted in one numpy pass);
4. the caller's half: :class:`NearDedup`'s LSH query, exact check and insert, record
   by record, on (3)'s signatures.

It checks that (1), (2) and (3) give the same MinHash values for every record, then
prints records per CPU-second of each (this process's CPU time, so other load on the
machine does not count), the ratio of each to (1), and the load average.

    .venv/bin/python benchmarks/bench_near_signatures.py [--records 20000] [--chunk 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from datasketch import MinHash  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).parent))
from bench_ray import generate_records  # noqa: E402

SHAPE, FIELDS, SHINGLE = "instruction", ("prompt", "response"), 3


def _shingle_lists(lines: list[bytes]) -> list[list[bytes]]:
    """Each record's shingles as bytes, found by the step's own functions."""
    from lmops_core.builtins.near_signatures import compared_text, shingles

    return [
        [s.encode() for s in shingles(compared_text(SHAPE, json.loads(raw), FIELDS), SHINGLE)]
        for raw in lines
    ]


def datasketch_bulk(lines: list[bytes], num_perm: int) -> list[Any]:
    """The baseline: each record's MinHash values, from ``MinHash.bulk`` over the chunk."""
    found = _shingle_lists(lines)
    return [m.hashvalues for m in MinHash.bulk(found, num_perm=num_perm, seed=1)]


def previous_code(lines: list[bytes], num_perm: int) -> list[Any]:
    """The step as it was (reference only): per record, its BLAKE2b shingle hashes and a
    fresh datasketch MinHash's values."""
    out = []
    for found in _shingle_lists(lines):
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
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    lines = [canonical_json(r) for r in generate_records(args.records)]
    chunks = [lines[i : i + args.chunk] for i in range(0, len(lines), args.chunk)]
    signer = NearSignatures(SHAPE, FIELDS, args.num_perm, SHINGLE)()
    ways: dict[str, Callable[[list[bytes]], Any]] = {
        "workers, datasketch MinHash.bulk (baseline)": lambda c: datasketch_bulk(c, args.num_perm),
        "workers, previous step code (reference)": lambda c: previous_code(c, args.num_perm),
        "workers, NearSignatures (chunk at a time)": signer,
    }
    for way in ways.values():
        way(chunks[0][:50])  # warm: imports, first allocations

    best = dict.fromkeys(ways, float("inf"))
    results: dict[str, list[Any]] = {}
    for _ in range(args.rounds):
        for name, way in ways.items():
            started = time.process_time()
            results[name] = [way(c) for c in chunks]
            best[name] = min(best[name], time.process_time() - started)

    base_name, old_name, new_name = ways
    new = results[new_name]
    for base_chunk, old_chunk, new_chunk in zip(
        results[base_name], results[old_name], new, strict=True
    ):
        for want, old, got in zip(base_chunk, old_chunk, new_chunk.signatures(), strict=True):
            assert got is not None and np.array_equal(want, got[1]), "MinHash values differ"
            assert np.array_equal(want, old[1]), "MinHash values differ (previous code)"

    step = NearDedup()
    step.configure({"threshold": 0.8, "num_perm": args.num_perm, "shingle": SHINGLE})
    started = time.process_time()
    kept = sum(sum(step.decide(SHAPE, [], chunk)) for chunk in new)
    caller_s = time.process_time() - started

    n = args.records
    base_s = best[base_name]
    print(
        f"{n:,} records, chunks of {args.chunk:,}, num_perm {args.num_perm}, seed 1, "
        f"best of {args.rounds} rounds; same MinHash values: True"
    )
    print(f"{'half':<46}{'rec per CPU-s':>14}{'x baseline':>12}")
    for name, seconds in best.items():
        print(f"{name:<46}{n / seconds:>14,.0f}{base_s / seconds:>12.2f}")
    print(f"{'caller, LSH query + exact check + insert':<46}{n / caller_s:>14,.0f}{'':>12}")
    print(f"kept {kept:,}, candidates {step.candidates:,} ({step.rejected:,} below threshold)")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
