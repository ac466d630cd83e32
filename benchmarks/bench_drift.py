"""Benchmark: drift evidence from raw inference logs, lmops vs Evidently direct.

For each window size N (reference and current N rows each of JSONL inference
logs; 20 feature columns: 9 text descriptors of ``prompt``/``response``, 7
numbers, 4 categories) it builds the 20-column feature frames once (saved as
Parquet), then runs, ``--repeat`` times, each side in a fresh subprocess (so
peak RSS values do not mix; all warm: imports done and Evidently run once on a
tiny frame before the clock starts):

* ``evidently direct`` - the baseline: Evidently alone on the very same feature
  frames, already in DataFrames (read from Parquet before the clock starts):
  ``Report([DataDriftPreset()]).run`` + ``save_html``;
* ``lmops`` - ``DriftMonitor.run`` from the two raw JSONL logs (UTF-8 check and
  record count, Arrow's JSON reader, column-wise descriptors, Evidently, HTML
  report with its heading, evidence); warmed by one monitor run on two tiny
  windows (which runs Evidently once too);
* with ``--plain``, also ``plain`` - the best plain use of pandas + Evidently
  from the raw logs: ``pandas.read_json`` (pyarrow engine, Arrow-backed strings),
  the same descriptors with pandas ``.str`` methods (see :func:`_plain_descriptors`).

Targets (issue #17): lmops time <= 1.25x and peak RSS <= 1.2x Evidently direct's,
at 100k and 1M rows. Wall seconds and CPU seconds (``process_time``: every thread
of the child) are both printed: on a machine shared with other jobs the CPU ratio
is the steadier one. All sides must test the same 20 columns and find the same
drifted ones. Peak RSS is the child's own (``VmHWM``, see :mod:`peak_rss`).

The monitor runs Evidently with one OpenBLAS thread (``lmops_evidently.report.BLAS_THREADS``);
Evidently direct keeps OpenBLAS' default unless ``--direct-blas-threads N`` sets it.

With ``--frames`` it also compares the monitoring step with Evidently direct on the
same saved feature frames (Parquet), under glibc's default malloc and with its
thresholds pinned (``--malloc``, see :data:`MALLOC_PINNED`).

    .venv/bin/python benchmarks/bench_drift.py --rows 100000 1000000 --repeat 2 \\
        --data /tmp/drift-windows   # windows kept there and reused (1M rows: ~1.2 GiB)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from lmops_evidently.sample_words import WORDS as TEST_WORDS
from lmops_evidently.sample_words import ZH as TEST_ZH
from lmops_evidently.text import REFUSAL_PATTERNS, WORD_PATTERN
from peak_rss import peak_rss_mib

# The tests' words, and more: longer texts with a wider vocabulary.
WORDS = np.array(
    [
        *TEST_WORDS,
        *[
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
        ],
        *["story", "poem", "email", "report"],
    ]
)
ZH = np.array(list(TEST_ZH))
DESCRIPTORS = ["length", "words", "oov_rate", "lang", "refusal"]  # PII: see README
NUMBERS = ("latency_ms", "ttft_ms", "tokens_in", "tokens_out", "temperature", "score", "cost_usd")
CATEGORIES = ("route", "model", "region", "status")


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


Clock = tuple[float, float]
"""Wall and CPU (every thread of the process) seconds at a start."""


def _clock() -> Clock:
    return time.perf_counter(), time.process_time()


def _since(start: Clock) -> dict[str, float]:
    """Wall and CPU seconds since ``start``."""
    return {"wall_s": time.perf_counter() - start[0], "cpu_s": time.process_time() - start[1]}


def _run_monitor(kind: str, paths: dict[str, Path], params: dict, workdir: Path) -> tuple:
    """Run lmops-evidently's drift monitor on ``paths`` (role -> file of dataset ``kind``);
    return its result and the wall and CPU seconds it took."""
    from lmops_evidently.monitor import DriftMonitor

    from lmops_core.contracts import InputAsset, Stage, StageContext

    context = StageContext(
        stage=Stage.MONITORING,
        operation="drift",
        inputs={
            role: InputAsset(role, f"bench:{role}", "dataset", kind, "0" * 64, path)
            for role, path in paths.items()
        },
        params=params,
        workdir=workdir,
        actor="bench",
        run_id="bench",
        seed=0,
    )
    start = _clock()
    result = DriftMonitor().run(context)
    return result, _since(start)


def child_lmops(reference: Path, current: Path, workdir: Path, chunk_size: int) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    _warm_lmops(workdir, chunk_size)
    result, took = _run_monitor(
        "instruction",
        {"reference": reference, "current": current},
        {"descriptors": DESCRIPTORS, "chunk_size": chunk_size},
        workdir,
    )
    metrics = result.evidence[0].metrics
    return {
        **took,
        "peak_rss_mb": peak_rss_mib(),
        "columns": metrics["columns"],
        "drifted_columns": metrics["drifted_columns"],
        "features_s": result.info["features_seconds"],
        "evidently_s": result.info["evidently_seconds"],
        "scores": {
            name.removeprefix("column.").removesuffix(".score"): value
            for name, value in metrics.items()
            if name.endswith(".score")
        },
    }


def child_lmops_frames(out: Path, workdir: Path, chunk_size: int) -> dict:
    """The monitor on the saved feature frames: all 20 columns plain features."""
    result, took = _run_monitor(
        "features",
        {role: out / f"{role}.parquet" for role in ("reference", "current")},
        {"text_fields": [], "chunk_size": chunk_size},
        workdir,
    )
    [evidence] = result.evidence
    metrics = evidence.metrics
    return {
        **took,
        "peak_rss_mb": peak_rss_mib(),
        "columns": metrics["columns"],
        "drifted_columns": metrics["drifted_columns"],
        "drifted": sorted(
            name.removeprefix("column.").removesuffix(".drifted")
            for name, value in metrics.items()
            if name.endswith(".drifted") and value is True
        ),
        "numeric": evidence.details["numeric_fields"],
        "categorical": evidence.details["categorical_fields"],
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
    return {"wall_s": wall, "peak_rss_mb": peak_rss_mib()}


def child_evidently(out: Path, workdir: Path) -> dict:
    import evidently.presets  # noqa: F401  (imported before the clock starts)
    import pandas as pd

    schema = json.loads((out / "schema.json").read_text())
    loading = time.perf_counter()
    reference = pd.read_parquet(out / "reference.parquet")
    current = pd.read_parquet(out / "current.parquet")
    load = time.perf_counter() - loading
    # The parquet round trip must keep the frames' types: numbers stay floats,
    # categories stay categorical (pandas metadata in the file).
    for frame in (reference, current):
        assert sorted(frame.columns) == sorted(schema["numeric"] + schema["categorical"])
        for name in schema["numeric"]:
            assert frame[name].dtype == "float64", (name, frame[name].dtype)
        for name in schema["categorical"]:
            assert isinstance(frame[name].dtype, pd.CategoricalDtype), (name, frame[name].dtype)
    workdir.mkdir(parents=True, exist_ok=True)
    _warm_evidently(workdir)
    start = _clock()
    snapshot = _direct_report(
        reference, current, schema["numeric"], schema["categorical"], workdir / "direct.html"
    )
    return {**_measured(start, snapshot), "load_s": load}


def _direct_report(reference, current, numeric: list[str], categorical: list[str], html: Path):
    """Evidently's DataDriftPreset run directly on two frames, its HTML saved; the snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    snapshot.save_html(str(html))
    return snapshot


def _measured(start: Clock, snapshot) -> dict:
    """Seconds since ``start`` and peak RSS (both read first), then Evidently's verdict."""
    took = _since(start)
    peak = peak_rss_mib()
    from lmops_evidently.report import read_verdict

    verdict = read_verdict(snapshot.dict(), 0.5)
    return {
        **took,
        "peak_rss_mb": peak,
        "columns": len(verdict.columns),
        "drifted_columns": verdict.drifted_columns,
        "drifted": sorted(c.column for c in verdict.columns if c.drifted),
        "scores": {c.column: c.score for c in verdict.columns},
    }


def _warm_lmops(workdir: Path, chunk_size: int) -> None:
    """Run the monitor once on two tiny windows: its clock starts warm, as Evidently's does.

    Besides Evidently, every step of the monitor runs once here, so imports and first
    calls happen outside the clock.
    """
    warm = workdir / "warm"
    warm.mkdir(parents=True, exist_ok=True)
    paths = {"reference": warm / "reference.jsonl", "current": warm / "current.jsonl"}
    for seed, path in enumerate(paths.values()):
        write_window(path, 200, seed=seed, shift=0.0)
    params = {"descriptors": DESCRIPTORS, "chunk_size": chunk_size}
    _run_monitor("instruction", paths, params, warm)


def _warm_evidently(workdir: Path) -> None:
    """Run Evidently once on a tiny frame: both sides start their clock warm."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=200), "c": pd.Categorical(rng.choice(["a", "b"], 200))}
    )
    _direct_report(frame, frame, ["x"], ["c"], workdir / "warm.html")


def _plain_descriptors(frame, reference_vocabulary=None):
    """The descriptors of ``prompt``/``response`` the plain pandas way (one frame).

    The same definitions as lmops-evidently's (its word pattern, script letters,
    refusal phrases, cross-fitted OOV vocabulary), written as a user of pandas
    would: ``.str`` methods with regular expressions, ``explode`` and ``isin``.
    Returns the descriptor columns and, for the reference, its two fold vocabularies.
    """
    import pandas as pd

    refusal = "|".join(f"(?:{p})" for p in REFUSAL_PATTERNS)
    columns, vocabularies = {}, {}
    for field in ("prompt", "response"):
        texts = frame[field]
        columns[f"{field}.length"] = texts.str.len().astype("float64")
        tokens = texts.str.lower().str.findall(WORD_PATTERN)
        columns[f"{field}.words"] = tokens.str.len().astype("float64")
        words = tokens.explode().dropna()
        folds = words.index.to_numpy() % 2
        if reference_vocabulary is None:
            vocab = (set(words[folds == 0]), set(words[folds == 1]))
            # Each reference row is judged by the other fold's vocabulary.
            known = np.where(folds == 0, words.isin(vocab[1]), words.isin(vocab[0]))
            vocabularies[field] = vocab
        else:
            vocab = reference_vocabulary[field]
            known = np.where(folds == 0, words.isin(vocab[0]), words.isin(vocab[1]))
        unknown = pd.Series(~known, index=words.index, dtype="float64")
        columns[f"{field}.oov_rate"] = (
            unknown.groupby(level=0).mean().reindex(frame.index, fill_value=0.0)
        )
        counts = pd.DataFrame({name: texts.str.count(pattern) for name, pattern in SCRIPT_LETTERS})
        labels = counts.idxmax(axis=1).where(counts.max(axis=1) > 0, "none")
        columns[f"{field}.lang"] = labels.astype("category")
        if field == "response":
            flags = texts.str.contains(refusal, case=False, regex=True)
            columns[f"{field}.refusal"] = flags.astype("float64")
    return columns, vocabularies


SCRIPT_LETTERS = (
    ("latin", r"[A-Za-z\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]"),
    ("cjk", "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff]"),
    ("cyrillic", "[\u0400-\u052f]"),
    ("arabic", "[\u0600-\u06ff\u0750-\u077f]"),
)
"""Letters of each script lmops' ``lang`` descriptor tells apart (the windows hold
Latin and CJK text only; letters of other scripts would count as "other")."""


def child_plain(reference: Path, current: Path, workdir: Path) -> dict:
    """The baseline: the same feature frames built with plain pandas, then Evidently.

    ``pandas.read_json(lines=True)`` with its fastest engine (pyarrow), the
    descriptors of :func:`_plain_descriptors`, numbers as floats and categories as
    ``category``, then ``Report([DataDriftPreset()]).run`` + ``save_html``; all
    imports and one tiny Evidently run happen before the clock starts.
    """
    import pandas as pd

    workdir.mkdir(parents=True, exist_ok=True)
    _warm_evidently(workdir)
    start = _clock()
    frames, vocabulary = [], None
    for path in (reference, current):
        raw = pd.read_json(path, lines=True, engine="pyarrow")
        columns, learnt = _plain_descriptors(raw, vocabulary)
        vocabulary = vocabulary or learnt
        frame = pd.DataFrame(columns)
        for name in NUMBERS:
            frame[name] = raw[name].astype("float64")
        for name in CATEGORIES:
            frame[name] = raw[name].astype("category")
        del raw
        frames.append(frame)
    numeric = [c for c in frames[0].columns if frames[0][c].dtype == "float64"]
    categorical = [c for c in frames[0].columns if c not in numeric]
    snapshot = _direct_report(*frames, numeric, categorical, workdir / "plain.html")
    return _measured(start, snapshot)


MALLOC_PINNED = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),
}
"""glibc malloc settings that stop its dynamic mmap threshold from moving.

By default glibc serves an allocation above its mmap threshold with a fresh mmap
(page faults on first touch) and raises the threshold whenever such a block is
freed, so how fast Evidently's many multi-MB temporaries are depends on what
the process happened to free *before* Evidently started (measured at 300k rows:
300k-730k minor page faults, +-1 s, for the very same report). Pinned, both
children serve them from the heap: ~30k faults, and their times agree.
"""


def run_child(*args: str, malloc: str = "default", blas_threads: int | None = None) -> dict:
    """Run this script as a child measurement; its last stdout line is JSON. With
    ``blas_threads``, OpenBLAS (numpy's and scipy's) runs that many threads in the child."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    if malloc == "pinned":
        env.update(MALLOC_PINNED)
    if blas_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(blas_threads)
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


def _check_same_frames(n: int, ours: dict, direct: dict, schema: dict) -> None:
    """Both runs on the frames must see the same 20 columns, typed alike, and agree."""
    print(
        f"[{n:,} rows] columns: lmops-frames {ours['columns']}, evidently direct"
        f" {direct['columns']}; drifted: lmops-frames {ours['drifted_columns']},"
        f" evidently direct {direct['drifted_columns']}",
        flush=True,
    )
    problems = []
    if not ours["columns"] == direct["columns"] == 20:
        problems.append("column counts differ from 20")
    if sorted(ours["numeric"]) != sorted(schema["numeric"]):
        problems.append(f"numeric columns differ: {ours['numeric']} vs {schema['numeric']}")
    if sorted(ours["categorical"]) != sorted(schema["categorical"]):
        problems.append(
            f"categorical columns differ: {ours['categorical']} vs {schema['categorical']}"
        )
    if ours["drifted"] != direct["drifted"]:
        problems.append(f"drifted columns differ: {ours['drifted']} vs {direct['drifted']}")
    if problems:
        raise SystemExit(f"[{n:,} rows] lmops-frames and evidently direct disagree: {problems}")


def _best(runs: list[dict]) -> dict:
    """The fastest of repeated runs, with the highest peak RSS seen (the conservative one)."""
    best = dict(min(runs, key=lambda run: run["wall_s"]))
    best["peak_rss_mb"] = max(run["peak_rss_mb"] for run in runs)
    return best


FramesMeasured = tuple[int, dict, dict[str, tuple[dict, dict]]]
"""(rows, frames child, {malloc: (evidently direct, lmops on frames)})."""


def _print_frames_table(rows_out: list[FramesMeasured]) -> None:
    print()
    print("Monitoring step on the same 20-column feature frames (Parquet):")
    print()
    print(
        "| rows/window | malloc | cols | lmops step on frames (s) | of which: read+schema |"
        " of which: evidently | lmops peak RSS (MiB) | evidently direct (s) |"
        " evidently direct peak RSS (MiB) | overhead (target <= 10%) |"
        " drifted cols lmops / direct |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, _frames, compared in rows_out:
        for malloc, (direct, on_frames) in compared.items():
            overhead = on_frames["wall_s"] / direct["wall_s"] - 1
            print(
                f"| {n:,} | {malloc} | {on_frames['columns']} | {on_frames['wall_s']:.1f} |"
                f" {on_frames['features_s']:.1f} | {on_frames['evidently_s']:.1f} |"
                f" {on_frames['peak_rss_mb']:.0f} | {direct['wall_s']:.1f} |"
                f" {direct['peak_rss_mb']:.0f} | {overhead:+.1%} |"
                f" {on_frames['drifted_columns']} / {direct['drifted_columns']} |"
            )


RawMeasured = tuple[int, int, dict, dict, dict | None]
"""(rows, attempt, Evidently direct, lmops from the raw JSONL logs, plain pandas or None)."""


def _check_same_scores(n: int, side: str, theirs: dict, ours: dict) -> float:
    """Both sides must test the same 20 columns; return the largest score difference."""
    if sorted(theirs["scores"]) != sorted(ours["scores"]) or len(ours["scores"]) != 20:
        raise SystemExit(
            f"[{n:,} rows] columns differ from {side}:"
            f" {sorted(theirs['scores'])} vs {sorted(ours['scores'])}"
        )
    if theirs["drifted_columns"] != ours["drifted_columns"]:
        raise SystemExit(f"[{n:,} rows] drifted columns differ: {side} {theirs} vs lmops {ours}")
    return max(abs(theirs["scores"][c] - ours["scores"][c]) for c in ours["scores"])


def _print_raw_table(runs: list[RawMeasured]) -> None:
    print()
    print("From raw JSONL logs to drift evidence, against Evidently direct on the feature frames:")
    print()
    print(
        "| rows/window | run | evidently direct (s) | lmops (s) | of which: read +"
        " descriptors | of which: evidently + report | time ratio (target <= 1.25) |"
        " evidently direct CPU (s) | lmops CPU (s) | CPU ratio |"
        " evidently direct peak RSS (MiB) | lmops peak RSS (MiB) | RSS ratio (target <= 1.2) |"
        " plain pandas + evidently (s) | lmops / plain |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, attempt, direct, ours, plain in runs:
        versus_plain = (
            f" {plain['wall_s']:.1f} | {ours['wall_s'] / plain['wall_s']:.2f} |"
            if plain
            else " - | - |"
        )
        print(
            f"| {n:,} | {attempt + 1} | {direct['wall_s']:.1f} | {ours['wall_s']:.1f} |"
            f" {ours['features_s']:.1f} | {ours['evidently_s']:.1f} |"
            f" {ours['wall_s'] / direct['wall_s']:.2f} | {direct['cpu_s']:.1f} |"
            f" {ours['cpu_s']:.1f} | {ours['cpu_s'] / direct['cpu_s']:.2f} |"
            f" {direct['peak_rss_mb']:.0f} | {ours['peak_rss_mb']:.0f} |"
            f" {ours['peak_rss_mb'] / direct['peak_rss_mb']:.2f} |" + versus_plain
        )


def _windows(folder: Path, n: int) -> tuple[Path, Path]:
    """The two JSONL windows of ``n`` rows in ``folder``, written unless already there."""
    reference, current = folder / "reference.jsonl", folder / "current.jsonl"
    if reference.is_file() and current.is_file():
        print(f"[{n:,} rows] reusing the windows in {folder}", flush=True)
        return reference, current
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_window(reference, n, seed=1, shift=0.0)
    write_window(current, n, seed=2, shift=0.3)
    made = time.perf_counter() - start
    size_mb = (reference.stat().st_size + current.stat().st_size) / 2**20
    print(f"[{n:,} rows] windows written in {made:.1f}s ({size_mb:.0f} MiB)", flush=True)
    return reference, current


def _compare_raw(n: int, folder: Path, args: argparse.Namespace) -> list[RawMeasured]:
    """lmops from the raw logs (and plain pandas) against Evidently direct, ``--repeat`` times."""
    reference, current = _windows(folder, n)
    chunk = str(args.chunk_size)
    # The feature frames Evidently direct is given: lmops' own, saved once as Parquet.
    if not (args.reuse_frames and (folder / "schema.json").is_file()):
        run_child("frames", str(reference), str(current), str(folder), chunk)
    runs: list[RawMeasured] = []
    for attempt in range(args.repeat):
        direct = run_child(
            "evidently", str(folder), str(folder / "d"), blas_threads=args.direct_blas_threads
        )
        ours = run_child("lmops", str(reference), str(current), str(folder / "w"), chunk)
        gap = _check_same_scores(n, "evidently direct", direct, ours)
        plain = None
        if args.plain:
            plain = run_child("plain", str(reference), str(current), str(folder / "p"))
            gap = max(gap, _check_same_scores(n, "plain", plain, ours))
        print(
            f"[{n:,} rows] run {attempt + 1}: evidently direct {direct['wall_s']:.1f}s"
            f" ({direct['cpu_s']:.1f} CPU-s) {direct['peak_rss_mb']:.0f} MiB, lmops"
            f" {ours['wall_s']:.1f}s ({ours['cpu_s']:.1f} CPU-s) {ours['peak_rss_mb']:.0f} MiB;"
            f" drifted {ours['drifted_columns']} of 20 on every side, largest score"
            f" difference {gap:.1e}",
            flush=True,
        )
        runs.append((n, attempt, direct, ours, plain))
    return runs


def _compare_frames(n: int, folder: Path, args: argparse.Namespace) -> FramesMeasured:
    """The monitoring step and Evidently direct on the same saved feature frames."""
    reference, current = folder / "reference.jsonl", folder / "current.jsonl"
    chunk = str(args.chunk_size)
    frames = run_child("frames", str(reference), str(current), str(folder), chunk)
    schema = json.loads((folder / "schema.json").read_text())
    compared = {}
    for malloc in args.malloc:
        directs, on_frames = [], []
        for attempt in range(args.repeat):
            directs.append(run_child("evidently", str(folder), str(folder), malloc=malloc))
            work = str(folder / f"wf-{malloc}-{attempt}")
            on_frames.append(run_child("lmops-frames", str(folder), work, chunk, malloc=malloc))
        direct, on_frame = _best(directs), _best(on_frames)
        _check_same_frames(n, on_frame, direct, schema)
        print(
            f"[{n:,} rows] malloc {malloc}: evidently direct {direct['wall_s']:.1f}s"
            f" (+{direct['load_s']:.1f}s read_parquet), lmops on frames"
            f" {on_frame['wall_s']:.1f}s",
            flush=True,
        )
        compared[malloc] = (direct, on_frame)
    return n, frames, compared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side per size")
    parser.add_argument(
        "--frames",
        action="store_true",
        help="also compare the monitoring step with Evidently on the same saved feature frames",
    )
    parser.add_argument(
        "--malloc",
        nargs="+",
        choices=["default", "pinned"],
        default=["default", "pinned"],
        help="allocator settings of the frame children (see MALLOC_PINNED)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where temporary windows go (default: /tmp)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="keep the windows in DATA/<rows>/ and reuse them on later runs"
        " (1M rows: ~1.2 GiB of JSONL), instead of writing them to a temporary folder",
    )
    parser.add_argument(
        "--reuse-frames",
        action="store_true",
        help="with --data, give Evidently direct the feature frames saved there by an earlier run"
        " (the score check below still compares both sides)",
    )
    parser.add_argument(
        "--plain", action="store_true", help="also time plain pandas + Evidently from the logs"
    )
    parser.add_argument(
        "--direct-blas-threads",
        type=int,
        default=None,
        help="OpenBLAS threads of the Evidently direct child (default: OpenBLAS' own choice;"
        " the monitor runs Evidently with one, see lmops_evidently.report.BLAS_THREADS)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *paths = args.child
        p = [Path(x) for x in paths]
        if kind == "lmops":
            result = child_lmops(p[0], p[1], p[2], int(paths[3]))
        elif kind == "plain":
            result = child_plain(p[0], p[1], p[2])
        elif kind == "lmops-frames":
            result = child_lmops_frames(p[0], p[1], int(paths[2]))
        elif kind == "frames":
            result = child_frames(p[0], p[1], p[2], int(paths[3]))
        else:
            result = child_evidently(p[0], p[1])
        print(json.dumps(result))
        return

    raw_runs: list[RawMeasured] = []
    frame_runs: list[FramesMeasured] = []
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-drift-", dir=args.workdir) as tmp:
        for n in args.rows:
            folder = (args.data or Path(tmp)) / str(n)
            raw_runs += _compare_raw(n, folder, args)
            if args.frames:
                frame_runs.append(_compare_frames(n, folder, args))
            if args.data is None:
                for path in folder.glob("*.jsonl"):
                    path.unlink()

    _print_raw_table(raw_runs)
    if frame_runs:
        _print_frames_table(frame_runs)


if __name__ == "__main__":
    main()
