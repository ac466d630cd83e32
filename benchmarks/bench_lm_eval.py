"""Overhead of lmops-lm-eval's "lm-eval" evaluator over calling lm-eval directly.

Same tiny model, same shipped tasks, same limit, same process. The direct
baseline does what any lm-eval user does: load the model and tokenizer with
transformers, wrap them in ``HFLM``, build a ``TaskManager`` over a task folder
with absolute data paths, and call ``simple_evaluate``. The wrapper run is
``LmEvalEvaluator().run(context)``, which also copies/rewrites task YAML,
checks for pickles, digests task files, writes per-sample JSONL and the
evidence. Runs alternate (direct, wrapper) after one unmeasured warm-up of
each; torch runs on one thread so the two paths compete for the same core.
Both wall time and process CPU time are shown: on a shared, loaded machine
wall time swings with other people's work, CPU time much less, so the CPU
ratio is the headline figure. A second baseline adds lm-eval's own
``make_table`` (what the ``lm_eval`` command line prints, and what the evidence
records): it costs a fixed ~35 ms of CPU whatever the workload. Target: <= 1.05.

    .venv/bin/python benchmarks/bench_lm_eval.py [--repeats 5] [--limit 0 (all)] [--hidden 64]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from lm_eval.utils import make_table
from lmops_lm_eval.direct import direct_task_folder, run_direct
from lmops_lm_eval.lm_eval_op import LmEvalEvaluator
from lmops_lm_eval.taskfiles import BUILTIN_TASKS
from lmops_lm_eval.tinymodel import build_tiny_llama

from lmops_core.contracts import NullProgress, Stage, StageContext
from lmops_core.testing import model_input


def run_wrapper(model_dir: Path, workdir: Path, limit: int | None) -> dict:
    """The lmops evaluator on the same model and tasks."""
    workdir.mkdir(parents=True)
    asset = model_input(model_dir, ref="tiny@1")
    ctx = StageContext(
        stage=Stage.EVALUATION,
        operation="lm-eval",
        inputs={"model": asset},
        params={"limit": limit, "batch_size": 8},
        workdir=workdir,
        actor="bench",
        run_id="bench",
        progress=NullProgress(),
    )
    return dict(LmEvalEvaluator().run(ctx).evidence[0].metrics)


def main() -> None:
    """Time both paths and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--limit", type=int, default=0, help="samples per task; 0 = all")
    ap.add_argument("--hidden", type=int, default=64, help="hidden size of the tiny model")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench_lm_eval_"))
    try:
        model_dir = build_tiny_llama(root / "model", seed=0, hidden_size=args.hidden)
        limit = args.limit or None
        tasks_dir = direct_task_folder(root)
        direct = run_direct(
            model_dir, tasks_dir, BUILTIN_TASKS, limit=limit
        )  # warm-up: imports, caches
        wrapped = run_wrapper(model_dir, root / "warm", limit)
        for task in BUILTIN_TASKS:
            for key, value in direct["results"][task].items():
                if "," in key and key.endswith(",none"):
                    assert wrapped[f"{task}.{key.split(',')[0]}"] == value, (task, key)
        rows = []
        for i in range(args.repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            result = run_direct(model_dir, tasks_dir, BUILTIN_TASKS, limit=limit)
            w1, c1 = time.perf_counter(), time.process_time()
            make_table(result)
            c_table = time.process_time() - c1
            w1, c1 = time.perf_counter(), time.process_time()
            run_wrapper(model_dir, root / f"run{i}", limit)
            w2, c2 = time.perf_counter(), time.process_time()
            rows.append((w1 - w0, w2 - w1, c1 - c0 - c_table, c2 - c1, c1 - c0))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    samples = sum(n["effective"] for n in direct["n-samples"].values())
    print(
        f"lm-eval wrapper overhead: 4 tasks, {samples} samples, "
        f"tiny Llama (hidden {args.hidden}, 2 layers), CPU, 1 torch thread"
    )
    head = (
        f"{'repeat':>6} | {'direct wall s':>13} | {'lmops wall s':>12} | "
        f"{'direct cpu s':>12} | {'+table cpu s':>12} | {'lmops cpu s':>11} | "
        f"{'ratio':>6} | {'ratio+t':>7}"
    )
    print(head)
    print("-" * len(head))

    def line(label: str, r: tuple[float, ...]) -> None:
        dw, ww, dc, wc, tc = r
        print(
            f"{label:>6} | {dw:>13.3f} | {ww:>12.3f} | {dc:>12.3f} | {tc:>12.3f} | "
            f"{wc:>11.3f} | {wc / dc:>6.3f} | {wc / tc:>7.3f}"
        )

    for i, r in enumerate(rows, start=1):
        line(str(i), r)
    med = tuple(statistics.median(r[k] for r in rows) for k in range(5))
    print("-" * len(head))
    line("median", med)
    print(
        f"CPU overhead vs simple_evaluate: {100 * (med[3] / med[2] - 1):+.1f}%; "
        f"vs simple_evaluate + make_table: {100 * (med[3] / med[4] - 1):+.1f}% "
        "(target <= +5%)"
    )


if __name__ == "__main__":
    main()
