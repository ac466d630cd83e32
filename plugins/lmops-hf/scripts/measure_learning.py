"""Measure that SFT on the shipped instruction data really teaches the tiny model something.

Builds a tiny base model, fine-tunes it with the "sft" operation (LoRA and full),
and prints held-out loss and exact-match accuracy (greedy reply == reference)
per category, before and after. Usage::

    python plugins/lmops-hf/scripts/measure_learning.py [--steps 600] [--methods full,lora]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import lmops_hf  # noqa: F401
from lmops_hf.base_model import DATA_DIR, create_base_model
from lmops_hf.chat import instruction_messages
from lmops_hf.generation import TorchGenerator, load_causal_lm
from lmops_hf.sft import SftTrainer, encode_example

from lmops_core.contracts import InputAsset, Stage, StageContext


def category(record: dict[str, str]) -> str:
    """facts / arithmetic / refusal, from the reference reply."""
    r = record["response"]
    if "can't help" in r or "不能帮助" in r:
        return "refusal"
    if "=" in r or "等于" in r:
        return "arithmetic"
    return "facts"


def evaluate(model: Any, tokenizer: Any, records: list[dict[str, str]]) -> dict[str, float]:
    """Held-out assistant-token loss and exact match per category."""
    import torch

    gen = TorchGenerator(model, tokenizer)
    hits: dict[str, list[int]] = {}
    loss_sum, n = 0.0, 0
    for rec in records:
        ex = encode_example(tokenizer, instruction_messages(rec), 256)
        assert ex is not None
        with torch.no_grad():
            out = model(
                input_ids=torch.tensor([ex["input_ids"]]), labels=torch.tensor([ex["labels"]])
            )
        loss_sum += float(out.loss)
        n += 1
        reply = gen.generate(rec["prompt"], max_new_tokens=40)
        hits.setdefault(category(rec), []).append(int(reply.strip() == rec["response"]))
    result = {"heldout_loss": loss_sum / n}
    for cat, h in sorted(hits.items()):
        result[f"exact_{cat}"] = sum(h) / len(h)
    result["exact_all"] = sum(sum(h) for h in hits.values()) / n
    return result


def main() -> None:
    """Run the measurement and print a table."""
    parser = argparse.ArgumentParser()
    for flag, kind, default, help_text in (
        ("--steps", int, 600, "optimizer steps per method"),
        ("--methods", str, "full,lora", "comma-separated training methods (full, lora)"),
        ("--lora-modules-to-save", str, "lm_head", "comma-separated; '' for none"),
        ("--threads", int, 1, "torch threads (on a shared CPU, more threads mostly spin)"),
    ):
        parser.add_argument(flag, type=kind, default=default, help=help_text)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    held = [json.loads(x) for x in (DATA_DIR / "instructions_heldout.jsonl").open(encoding="utf-8")]
    root = Path(tempfile.mkdtemp(prefix="lmops-hf-measure-"))
    base = create_base_model(root / "base", size="tiny", seed=0)
    rows = [("base (untrained)", evaluate(*load_causal_lm(base), held), None)]
    for method in args.methods.split(","):
        work = root / method
        work.mkdir()
        params = {
            "method": method,
            "max_steps": args.steps,
            "batch_size": 16,
            "learning_rate": 3e-3 if method == "full" else 1e-2,
            "lr_scheduler": "cosine",
            "warmup_steps": 20,
            "checkpoint_every": 10_000,
        }
        if method == "lora":
            params.update(lora_r=16, lora_alpha=32, lora_dropout=0.0)
            if args.lora_modules_to_save:
                params["modules_to_save"] = args.lora_modules_to_save.split(",")
        ctx = StageContext(
            stage=Stage.TRAINING,
            operation="sft",
            workdir=work,
            actor="measure",
            run_id=method,
            seed=0,
            params=params,
            inputs={
                "base": InputAsset("base", "base@1", "model", "base", "sha256:" + "0" * 64, base),
                "dataset": InputAsset(
                    "dataset",
                    "instr@1",
                    "dataset",
                    "instruction",
                    "sha256:" + "1" * 64,
                    DATA_DIR / "instructions.jsonl",
                ),
            },
        )
        result = SftTrainer().run(ctx)
        out = result.outputs[0].path
        model, tok = load_causal_lm(out, base=base if method == "lora" else None)
        label = (
            method
            if method == "full" or not args.lora_modules_to_save
            else (f"{method} + trained {args.lora_modules_to_save}")
        )
        rows.append(
            (f"sft {label} ({args.steps} steps)", evaluate(model, tok, held), result.metrics)
        )
    keys = list(rows[0][1])
    print(f"held-out records: {len(held)}")
    print("| model | " + " | ".join(keys) + " | train s | trainable |")
    print("|---" * (len(keys) + 3) + "|")
    for name, res, metrics in rows:
        extra = (
            f"{metrics['duration_s']:.0f} | {metrics['trainable_fraction']:.3f}"
            if metrics
            else "- | -"
        )
        print(f"| {name} | " + " | ".join(f"{res[k]:.3f}" for k in keys) + f" | {extra} |")


if __name__ == "__main__":
    main()
