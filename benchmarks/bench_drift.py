"""Benchmark: the lmops ``drift`` monitor vs Evidently called directly on the same frames.

For each window size N (reference and current N rows each, 20 feature columns:
9 text descriptors of ``prompt``/``response``, 7 numbers, 4 categories) it
measures, each in a fresh subprocess so peak RSS values do not mix:

* ``lmops``     - ``DriftMonitor.run`` from the two JSONL files (read in chunks,
                  descriptors, Evidently DataDriftPreset, HTML report);
* ``evidently`` - Evidently's ``Report([DataDriftPreset()]).run`` + ``save_html``
                  on the very feature frames the monitor built (loaded from parquet
                  before the clock starts).

Overhead = lmops wall / evidently wall - 1 (target: <= 10%). Peak RSS is the
child's own ``ru_maxrss``.

    .venv/bin/python benchmarks/bench_drift.py --rows 100000 300000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = np.array(
    [
        "the",
        "model",
        "answers",
        "questions",
        "about",
        "weather",
        "travel",
        "cooking",
        "music",
        "history",
        "science",
        "sport",
        "garden",
        "books",
        "films",
        "cities",
        "rivers",
        "mountains",
        "coffee",
        "trains",
        "maps",
        "code",
        "data",
        "please",
        "explain",
        "why",
        "how",
        "what",
        "when",
        "where",
        "which",
        "summary",
        "translate",
        "write",
        "story",
        "poem",
        "email",
        "report",
    ]
)
ZH = np.array(list("你好世界数据模型天气旅行音乐历史科学城市河流山脉咖啡火车地图代码"))
DESCRIPTORS = ["length", "words", "oov_rate", "lang", "refusal"]  # PII: see README


def _texts(rng: np.random.Generator, n: int, low: int, high: int, zh_share: float) -> list[str]:
    lengths = rng.integers(low, high, n)
    pool = rng.choice(WORDS, size=int(lengths.sum()))
    chars = rng.choice(ZH, size=int(lengths.sum()))
    zh = rng.random(n) < zh_share
    out, start = [], 0
    for length, is_zh in zip(lengths, zh, strict=True):
        end = start + int(length)
        out.append("".join(chars[start:end]) if is_zh else " ".join(pool[start:end]))
        start = end
    return out


def write_window(path: Path, n: int, seed: int, shift: float) -> None:
    """N inference-log records; ``shift`` in [0, 1] moves every distribution a little."""
    rng = np.random.default_rng(seed)
    prompts = _texts(rng, n, 3 + int(10 * shift), 30 + int(20 * shift), 0.05 + 0.3 * shift)
    responses = _texts(rng, n, 5, 60, 0.05)
    refuse = rng.random(n) < 0.03 + 0.2 * shift
    numbers = {
        "latency_ms": rng.gamma(4.0, 80.0 * (1 + shift), n),
        "ttft_ms": rng.gamma(2.0, 30.0, n),
        "tokens_in": rng.integers(10, 400, n),
        "tokens_out": rng.integers(10, 800, n),
        "temperature": rng.choice([0.0, 0.2, 0.7, 1.0], n),
        "score": rng.normal(0.7 - 0.2 * shift, 0.1, n),
        "cost_usd": rng.exponential(0.002, n),
    }
    categories = {
        "route": rng.choice(["chat", "search", "summarise", "code"], n),
        "model": rng.choice(
            ["small", "base", "large"], n, p=[0.5 - 0.3 * shift, 0.3, 0.2 + 0.3 * shift]
        ),
        "region": rng.choice(["eu", "us", "apac"], n),
        "status": rng.choice(["ok", "error", "timeout"], n, p=[0.95, 0.03, 0.02]),
    }
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            record = {
                "prompt": prompts[i],
                "response": "I'm sorry, but I can't help with that." if refuse[i] else responses[i],
            }
            for name, values in numbers.items():
                record[name] = values[i].item()
            for name, values in categories.items():
                record[name] = str(values[i])
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


# -- child processes ------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def child_lmops(reference: Path, current: Path, workdir: Path, chunk_size: int) -> dict:
    from lmops_evidently.monitor import DriftMonitor

    from lmops_core.contracts import InputAsset, Stage, StageContext

    def asset(role: str, path: Path) -> InputAsset:
        return InputAsset(role, f"bench:{role}", "dataset", "instruction", "0" * 64, path)

    context = StageContext(
        stage=Stage.MONITORING,
        operation="drift",
        inputs={"reference": asset("reference", reference), "current": asset("current", current)},
        params={"descriptors": DESCRIPTORS, "chunk_size": chunk_size},
        workdir=workdir,
        actor="bench",
        run_id="bench",
        seed=0,
    )
    start = time.perf_counter()
    result = DriftMonitor().run(context)
    wall = time.perf_counter() - start
    metrics = result.evidence[0].metrics
    return {
        "wall_s": wall,
        "peak_rss_mb": _peak_rss_mb(),
        "columns": metrics["columns"],
        "drifted_columns": metrics["drifted_columns"],
        "features_s": result.info["features_seconds"],
        "evidently_s": result.info["evidently_seconds"],
    }


def child_frames(reference: Path, current: Path, out: Path, chunk_size: int) -> dict:
    """Build the monitor's feature frames once and save them for the Evidently baseline."""
    from lmops_evidently.frames import build_feature_frames
    from lmops_evidently.params import parse_params

    params = parse_params({"descriptors": DESCRIPTORS, "chunk_size": chunk_size})
    start = time.perf_counter()
    frames = build_feature_frames(reference, current, params, seed=0)
    wall = time.perf_counter() - start
    frames.reference.to_parquet(out / "reference.parquet")
    frames.current.to_parquet(out / "current.parquet")
    schema = {
        "numeric": frames.schema.numeric_columns,
        "categorical": frames.schema.categorical_columns,
    }
    (out / "schema.json").write_text(json.dumps(schema))
    return {"wall_s": wall, "peak_rss_mb": _peak_rss_mb()}


def child_evidently(out: Path, workdir: Path) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    schema = json.loads((out / "schema.json").read_text())
    reference = pd.read_parquet(out / "reference.parquet")
    current = pd.read_parquet(out / "current.parquet")
    definition = DataDefinition(
        numerical_columns=schema["numeric"], categorical_columns=schema["categorical"]
    )
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    snapshot.save_html(str(workdir / "direct.html"))
    wall = time.perf_counter() - start
    return {"wall_s": wall, "peak_rss_mb": _peak_rss_mb()}


def run_child(*args: str) -> dict:
    """Run this script as a child measurement; its last stdout line is JSON."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *paths = args.child
        p = [Path(x) for x in paths]
        if kind == "lmops":
            result = child_lmops(p[0], p[1], p[2], int(paths[3]))
        elif kind == "frames":
            result = child_frames(p[0], p[1], p[2], int(paths[3]))
        else:
            result = child_evidently(p[0], p[1])
        print(json.dumps(result))
        return

    rows_out = []
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        for n in args.rows:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            reference, current = folder / "reference.jsonl", folder / "current.jsonl"
            start = time.perf_counter()
            write_window(reference, n, seed=1, shift=0.0)
            write_window(current, n, seed=2, shift=0.3)
            made = time.perf_counter() - start
            size_mb = (reference.stat().st_size + current.stat().st_size) / 2**20
            print(f"[{n:,} rows] windows written in {made:.1f}s ({size_mb:.0f} MiB)", flush=True)
            chunk = str(args.chunk_size)
            frames = run_child("frames", str(reference), str(current), str(folder), chunk)
            direct = run_child("evidently", str(folder), str(folder))
            ours = run_child("lmops", str(reference), str(current), str(folder / "w"), chunk)
            print(
                f"[{n:,} rows] frames {frames['wall_s']:.1f}s, evidently {direct['wall_s']:.1f}s,"
                f" lmops {ours['wall_s']:.1f}s",
                flush=True,
            )
            rows_out.append((n, ours, direct, frames))
            for path in (reference, current):
                path.unlink()

    print()
    print(
        "| rows/window | cols | lmops drift (s) | of which: read+descriptors | of which: evidently |"
        " evidently direct (s) | overhead total | overhead of evidently part |"
        " lmops peak RSS (MiB) | evidently direct peak RSS (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, ours, direct, _frames in rows_out:
        total = ours["wall_s"] / direct["wall_s"] - 1
        part = ours["evidently_s"] / direct["wall_s"] - 1
        print(
            f"| {n:,} | {ours['columns']} | {ours['wall_s']:.1f} | {ours['features_s']:.1f} | "
            f"{ours['evidently_s']:.1f} | {direct['wall_s']:.1f} | {total:+.0%} | {part:+.0%} | "
            f"{ours['peak_rss_mb']:.0f} | {direct['peak_rss_mb']:.0f} |"
        )
    if len(rows_out) > 1:
        (n0, o0, d0, _), (n1, o1, d1, _) = rows_out[0], rows_out[-1]
        print(
            f"\nscaling {n0:,} -> {n1:,} rows ({n1 / n0:.0f}x): lmops {o1['wall_s'] / o0['wall_s']:.1f}x"
            f" time, evidently {d1['wall_s'] / d0['wall_s']:.1f}x time"
        )


if __name__ == "__main__":
    main()
