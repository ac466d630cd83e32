"""Benchmark: int8 (ONNX Runtime dynamic quantization) against fp32, in one run.

Builds a Llama-style model of tens of millions of parameters locally
(``lmops_hf.base_model.create_base_model(size="bench")``), trains it briefly on a
generated corpus so that perplexity means something (random weights give a
perplexity near the vocabulary size and near-tied logits), then runs the
``onnx-int8`` compressor of lmops-onnx on it: export with torch.onnx, dynamic
int8 quantization, and the measurements of its ``compression`` evidence.
Everything is measured in the same process, on the same machine, at batch 1.

Run:  python benchmarks/bench_quantization.py [--train-steps 80] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TARGETS = {
    "size_ratio": 0.30,
    "latency_ratio_vs_ort_fp32": 0.75,
    "latency_ratio_vs_torch_fp32": 0.50,
    "perplexity_increase_pct": 2.0,
}

_SUBJECTS = [
    "the farmer",
    "a teacher",
    "the old captain",
    "my neighbour",
    "the young doctor",
    "a student",
    "the engineer",
    "our mayor",
    "the baker",
    "a traveller",
]
_VERBS = [
    "repaired",
    "painted",
    "carried",
    "found",
    "sold",
    "described",
    "cleaned",
    "opened",
    "measured",
    "borrowed",
]
_OBJECTS = [
    "the red boat",
    "a wooden chair",
    "the small window",
    "an old map",
    "the blue door",
    "a heavy box",
    "the broken clock",
    "a long ladder",
    "the green lamp",
    "a paper kite",
]
_PLACES = [
    "near the river",
    "in the market",
    "behind the school",
    "at the station",
    "on the hill",
    "by the harbour",
    "in the garden",
    "under the bridge",
]
_TIMES = [
    "on monday",
    "last winter",
    "before noon",
    "after the storm",
    "every morning",
    "in the evening",
]


def generated_sentences(count: int, seed: int) -> list[str]:
    """Sentences from a small seeded grammar: learnable in a few dozen steps, never downloaded."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        sentence = (
            f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_PLACES)} {rng.choice(_TIMES)}."
        )
        out.append(sentence[0].upper() + sentence[1:])
    return out


def train_briefly(folder: Path, *, steps: int, batch: int, seed: int) -> dict[str, float]:
    """A few AdamW steps on generated sentences, saved back as safetensors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder))
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    sentences = generated_sentences(steps * batch * 2, seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    torch.manual_seed(seed)
    first = last = float("nan")
    start = time.perf_counter()
    for step in range(steps):
        # Two sentences per row: a little context to learn from.
        rows = [
            " ".join(sentences[(step * batch + i) * 2 : (step * batch + i) * 2 + 2])
            for i in range(batch)
        ]
        enc = tokenizer(rows, padding=True, truncation=True, max_length=64, return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(
            input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], labels=labels
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        last = loss.item()
        first = last if step == 0 else first
    model.eval()
    model.save_pretrained(str(folder))
    return {"loss_first": first, "loss_last": last, "seconds": time.perf_counter() - start}


def run_int8(model_dir: Path, work: Path, *, threads: int, repeats: int, seed: int) -> Any:
    """Run lmops-onnx's ``onnx-int8`` compressor straight from the torch model."""
    from lmops_onnx.operations import OnnxInt8

    from lmops_core.contracts import NullProgress, Stage, StageContext
    from lmops_core.testing import dataset_input, model_input

    heldout = work / "heldout.jsonl"
    heldout.write_text(
        "".join(
            json.dumps({"text": " ".join(pair)}) + "\n"
            for pair in zip(
                generated_sentences(64, seed + 99)[::2],
                generated_sentences(64, seed + 99)[1::2],
                strict=True,
            )
        ),
        encoding="utf-8",
    )
    inputs = {
        "model": model_input(model_dir, ref="bench/model@1"),
        "heldout": dataset_input(heldout, role="heldout", ref="bench/heldout@1"),
    }
    context = StageContext(
        stage=Stage.COMPRESSION,
        operation="onnx-int8",
        inputs=inputs,
        params={"threads": threads, "latency_repeats": repeats},
        workdir=work / "run",
        actor="bench",
        run_id="bench",
        seed=seed,
        progress=NullProgress(),
    )
    context.workdir.mkdir(parents=True)
    return OnnxInt8().run(context)


def print_table(metrics: dict[str, Any], info: dict[str, Any]) -> bool:
    """Print the figures and the targets; return True when every target is met."""
    mb = 1024 * 1024
    print()
    print(
        f"model: {info['source']}, {info['parameters'] / 1e6:.1f}M parameters; "
        f"trained {info['train_steps']} steps (loss {info['loss_first']:.2f} -> "
        f"{info['loss_last']:.2f}); threads={info['threads']}; batch 1; "
        f"{info['prompts']} prompts x {info['repeats']} repeats"
    )
    print()
    print(f"{'engine':<12} {'weights MB':>11} {'p50 ms':>9} {'p95 ms':>9} {'perplexity':>11}")
    rows = [
        ("torch fp32", metrics["size_bytes_torch_fp32"], "torch_fp32", None),
        ("ORT fp32", metrics["size_bytes_before"], "ort_fp32", metrics["perplexity_fp32"]),
        ("ORT int8", metrics["size_bytes_after"], "ort_int8", metrics["perplexity_int8"]),
    ]
    for label, size, key, ppl in rows:
        ppl_text = f"{ppl:>11.3f}" if ppl is not None else f"{'-':>11}"
        print(
            f"{label:<12} {size / mb:>11.1f} {metrics[f'latency_p50_ms_{key}']:>9.2f} "
            f"{metrics[f'latency_p95_ms_{key}']:>9.2f} {ppl_text}"
        )
    print()
    print(f"{'ratio (int8 / baseline)':<34} {'measured':>9} {'target':>8}  ok")
    all_ok = True
    for name, target in TARGETS.items():
        value = metrics[name]
        ok = value <= target
        all_ok &= ok
        print(f"{name:<34} {value:>9.3f} {'<= ' + str(target):>8}  {'yes' if ok else 'NO'}")
    print(f"{'greedy_agreement (int8 vs fp32)':<34} {metrics['greedy_agreement']:>9.3f}")
    print(
        f"{'quantized ops':<34} "
        + ", ".join(f"{k[4:]}={v}" for k, v in metrics.items() if k.startswith("ops_"))
    )
    return all_ok


def main(argv: list[str] | None = None) -> int:
    """Build, train, quantize and measure; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default, help_text in (
        ("--train-steps", 80, "optimizer steps on generated sentences before quantizing"),
        ("--train-batch", 4, "rows per optimizer step"),
        ("--threads", 1, "threads for torch and ORT alike (1 is steadiest on a shared box)"),
        ("--repeats", 10, "latency repeats per prompt"),
        ("--seed", 0, "seed of the weights, the generated corpus and the training"),
    ):
        parser.add_argument(flag, type=int, default=default, help=help_text)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep outputs in")
    args = parser.parse_args(argv)

    import torch
    from lmops_hf.base_model import create_base_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="lmops-bench-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        model_dir = create_base_model(work / "model", size="bench", seed=args.seed)
        training = train_briefly(
            model_dir, steps=args.train_steps, batch=args.train_batch, seed=args.seed
        )
        from transformers import AutoConfig, AutoModelForCausalLM

        config = AutoConfig.from_pretrained(str(model_dir))
        parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
        result = run_int8(
            model_dir, work, threads=args.threads, repeats=args.repeats, seed=args.seed
        )
        evidence = result.evidence[0]
        info = {
            "source": "lmops_hf bench",
            "parameters": parameters,
            "train_steps": args.train_steps,
            "loss_first": training["loss_first"],
            "loss_last": training["loss_last"],
            "threads": args.threads,
            "prompts": evidence.details["latency"]["prompts"],
            "repeats": args.repeats,
        }
        ok = print_table(dict(evidence.metrics), info)
        print(
            f"\ntrain {training['seconds']:.0f} s, export {result.metrics['export_seconds']:.0f}"
            f" s, quantize {result.metrics['quantize_seconds']:.1f} s, total "
            f"{time.perf_counter() - started:.0f} s"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
