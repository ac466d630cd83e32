"""Benchmark: a LoRA training step against a full fine-tuning step on the "bench" base model.

Each configuration runs in a fresh subprocess through the real "sft" operation
(transformers Trainer + PEFT), so peak RSS belongs to that configuration alone.
Full fine-tuning is the baseline; the table gives LoRA's ratio to it.

    .venv/bin/python benchmarks/bench_training.py [--steps 6] [--batch-size 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys, time
from pathlib import Path
from peak_rss import peak_rss_kib
import lmops_hf
import torch
torch.set_num_threads(int(sys.argv[5]))
from transformers.utils import logging as hf_logging
hf_logging.set_verbosity_error(); hf_logging.disable_progress_bar()
from lmops_core.contracts import InputAsset, Stage, StageContext
from lmops_hf.base_model import DATA_DIR
from lmops_hf.sft import SftTrainer
base, work, method, steps, _, batch = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
rss_start = peak_rss_kib()  # the child's own (ru_maxrss would carry the parent's)
params = {"method": method, "max_steps": steps, "batch_size": batch, "max_length": 64,
          "learning_rate": 1e-4, "checkpoint_every": 10_000, "lora_dropout": 0.0}
ctx = StageContext(stage=Stage.TRAINING, operation="sft", workdir=work, actor="bench",
    run_id=method, seed=0, params=params,
    inputs={"base": InputAsset("base", "bench@1", "model", "base", "sha256:" + "0" * 64, base),
            "dataset": InputAsset("dataset", "instr@1", "dataset", "instruction",
                                  "sha256:" + "1" * 64, DATA_DIR / "instructions.jsonl")})
r = SftTrainer().run(ctx)
print(json.dumps({"metrics": r.metrics,
                  "peak_rss_mb": peak_rss_kib() / 1024,
                  "start_rss_mb": rss_start / 1024}))
"""


def run_config(
    base: Path, work: Path, method: str, steps: int, threads: int, batch: int
) -> dict[str, Any]:
    """Run one configuration in a fresh interpreter; return its metrics and peak RSS."""
    work.mkdir(parents=True)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(base),
            str(work),
            method,
            str(steps),
            str(threads),
            str(batch),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},  # finds peak_rss.py
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    """Build the bench model, time both methods, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import lmops_hf  # noqa: F401
    from lmops_hf.base_model import create_base_model

    root = Path(tempfile.mkdtemp(prefix="lmops-bench-training-"))
    base = create_base_model(root / "bench", size="bench", seed=0)
    rows = {
        m: run_config(base, root / m, m, args.steps, args.threads, args.batch_size)
        for m in ("full", "lora")
    }
    full, lora = rows["full"], rows["lora"]
    total = int(full["metrics"]["total_params"])
    print(
        f"bench model: {total / 1e6:.1f}M parameters; {args.steps} steps, batch "
        f"{args.batch_size}, max_length 64, {args.threads} torch threads, CPU"
    )
    print(
        "| method | trainable params | trainable fraction | tokens/s | s/step "
        "| peak RSS MB | tokens/s vs full | peak RSS vs full |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in ("full", "lora"):
        r = rows[name]
        m = r["metrics"]
        print(
            f"| {name} | {int(m['trainable_params']):,} | {m['trainable_fraction']:.4f} "
            f"| {m['tokens_per_s']:.0f} | {m['duration_s'] / m['steps']:.2f} "
            f"| {r['peak_rss_mb']:.0f} "
            f"| {m['tokens_per_s'] / full['metrics']['tokens_per_s']:.2f}x "
            f"| {r['peak_rss_mb'] / full['peak_rss_mb']:.2f}x |"
        )
    print(
        f"(LoRA r=8 on q,k,v,o,gate,up,down; peak RSS includes the ~{lora['start_rss_mb']:.0f} MB "
        "of an interpreter with torch imported)"
    )


if __name__ == "__main__":
    main()
