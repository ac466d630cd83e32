"""Check that the shipped tasks separate a fine-tuned tiny model from a random one.

Builds a random-weight tiny Llama (``build_tiny_llama``), fine-tunes a copy for a
few hundred steps on lmops-hf's instruction data (plain causal-LM loss on
chat-templated records, one CPU thread), and runs the "lm-eval" evaluator on
both. Needs lmops-hf installed (for its data file). Several minutes of CPU.

    .venv/bin/python plugins/lmops-lm-eval/scripts/check_tasks_learnable.py [--hidden 128]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from importlib import resources
from pathlib import Path

from lmops_lm_eval.lm_eval_op import LmEvalEvaluator
from lmops_lm_eval.tinymodel import build_tiny_llama

from lmops_core.contracts import NullProgress, Stage, StageContext
from lmops_core.testing import model_input


def fine_tune(base: Path, out: Path, *, steps: int, batch: int = 16, lr: float = 3e-3) -> None:
    """Causal-LM fine-tuning of ``base`` on lmops-hf's ``instructions.jsonl`` into ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = resources.files("lmops_hf") / "data" / "instructions.jsonl"
    records = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    encoded = [
        tok.encode(
            tok.apply_chat_template(
                [
                    {"role": "user", "content": r["prompt"]},
                    {"role": "assistant", "content": r["response"]},
                ],
                tokenize=False,
            )
        )
        for r in records
    ]
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    rng = random.Random(0)
    model.train()
    for step in range(steps):
        rows = rng.sample(encoded, batch)
        width = max(map(len, rows))
        ids = torch.full((batch, width), tok.pad_token_id)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        loss = model(
            input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)
        ).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % 100 == 0:
            print(f"step {step}: loss {loss.item():.3f}", flush=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def evaluate(folder: Path, workdir: Path) -> dict[str, float]:
    """Primary metrics of the "lm-eval" evaluator on the shipped tasks."""
    asset = model_input(folder, ref=folder.name)
    ctx = StageContext(
        stage=Stage.EVALUATION,
        operation="lm-eval",
        inputs={"model": asset},
        params={},
        workdir=workdir,
        actor="check",
        run_id="check",
        progress=NullProgress(),
    )
    metrics = LmEvalEvaluator().run(ctx).evidence[0].metrics
    return {k: v for k, v in metrics.items() if k == "acc" or k.endswith((".acc", ".exact_match"))}


def main() -> None:
    """Fine-tune, evaluate both models, print a table."""
    import torch

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=800)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="lmops_learnable_"))
    random_dir = build_tiny_llama(root / "random", seed=0, hidden_size=args.hidden)
    fine_tune(random_dir, root / "tuned", steps=args.steps)
    rows = {name: evaluate(root / name, root / f"wd_{name}") for name in ("random", "tuned")}
    print(f"{'metric':34} | {'random':>7} | {'tuned':>7}")
    for key in rows["random"]:
        print(f"{key:34} | {rows['random'][key]:>7.3f} | {rows['tuned'][key]:>7.3f}")


if __name__ == "__main__":
    main()
