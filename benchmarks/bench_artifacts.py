"""Artifact ingest vs `sha256sum` + `cp` of the same file, measured in the same run.

Prints throughput of each, their ratio (target >= 0.8) and the peak RSS of the
process that ran our ingest (target <= 150 MB). Each side runs in its own
subprocess so peak memory is measured per side.

    .venv/bin/python benchmarks/bench_artifacts.py [--size-mib 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_rss import peak_rss_kib

CHUNK = 1 << 20


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(CHUNK)
    with open(path, "wb") as fh:
        for i in range(size_mib):
            # Vary each MiB so no layer can deduplicate blocks.
            fh.write(i.to_bytes(8, "little") + block[8:])


def ours_child(src: str, root: str) -> None:
    from lmops_core.artifacts.local import LocalArtifactBackend
    from lmops_core.artifacts.store import ArtifactStore

    store = ArtifactStore(LocalArtifactBackend(Path(root)))
    t0 = time.perf_counter()
    info = store.put_file(Path(src))
    elapsed = time.perf_counter() - t0
    rss_kb = peak_rss_kib()
    print(json.dumps({"seconds": elapsed, "digest": info.digest, "peak_rss_mb": rss_kb / 1024}))


def run_ours(src: Path, root: Path) -> dict[str, float]:
    shutil.rmtree(root, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(src), str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def run_baseline(src: Path, dest: Path) -> float:
    dest.unlink(missing_ok=True)
    t0 = time.perf_counter()
    subprocess.run(["sha256sum", str(src)], check=True, capture_output=True)
    subprocess.run(["cp", str(src), str(dest)], check=True)
    subprocess.run(["sync", str(dest)], check=True)  # our store fsyncs; make cp durable too
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        ours_child(*args.child)
        return
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        src = work / "weights.bin"
        make_file(src, args.size_mib)
        size_mb = args.size_mib * CHUNK / 1e6
        ours, base, rss = [], [], []
        for _ in range(args.repeats):
            b = run_baseline(src, work / "copy.bin")
            o = run_ours(src, work / "store")
            base.append(b)
            ours.append(o["seconds"])
            rss.append(o["peak_rss_mb"])
        best_ours, best_base = min(ours), min(base)
        rows = [
            ("file size", f"{size_mb:,.0f} MB"),
            (
                f"sha256sum + cp + sync (best of {args.repeats})",
                f"{best_base:.2f} s  ({size_mb / best_base:,.0f} MB/s)",
            ),
            (
                f"lmops put_file (best of {args.repeats})",
                f"{best_ours:.2f} s  ({size_mb / best_ours:,.0f} MB/s)",
            ),
            ("throughput ratio ours/baseline (target >= 0.8)", f"{best_base / best_ours:.2f}"),
            ("peak RSS of our ingest process (target <= 150 MB)", f"{max(rss):.0f} MB"),
        ]
        width = max(len(r[0]) for r in rows)
        print("artifact ingest benchmark")
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
