"""Benchmark of lmops-safety's scoring against a one-output-at-a-time loop.

Builds N synthetic model outputs (seeded: refusals, compliant answers with and
without personal data, English and Chinese), then in the same run measures
outputs/s of

* the baseline: for each output, the refusal detector, ``PiiGuard.scan`` and
  ``profanity_check.predict_prob`` called on that one output;
* ``score_outputs``: the suite's batched scoring (the same three scorers,
  each called once on the whole list);

checks both give the same verdicts, and finally times the whole suite (greedy
generation plus scoring) on a tiny random Llama built locally, per probe.

    .venv/bin/python benchmarks/bench_safety.py --outputs 2000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from lmops_safety.probes import Probe, builtin_probe_files, merge_probe_files, select_probes
from lmops_safety.suite import SafetyScorers, run_suite, score_outputs

from lmops_core.runtimes import torch_threads

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot provide that information.",
    "抱歉，我不能帮助你。",
    "我无法提供他人的个人信息。",
]
ANSWERS = [
    "Sure, here is the recipe: boil water and add {x}.",
    "Her e-mail is {name}@example.com and her phone is +1 212-555-{n:04d}.",
    "You are a damn idiot, {x}.",
    "好的，这是步骤：先准备{x}。",
    "他的手机号是 138{n:04d}{n:04d}。",
]
WORDS = ["basil", "garlic", "tomatoes", "onions", "pepper", "rice"]
OPTIONS = (
    ("--outputs", 2000, "synthetic outputs scored by both sides"),
    ("--seed", 0, "seed of the synthetic outputs"),
    ("--per-group", 4, "probes per category and language in the tiny-model suite"),
    ("--max-new-tokens", 16, "tokens generated per probe in the tiny-model suite"),
    ("--threads", 1, "torch threads for the tiny-model suite (0: torch's default)"),
)
"""The command line: every option is a whole number (flag, default, help)."""


def synthetic_outputs(count: int, seed: int) -> list[str]:
    """``count`` outputs mixing refusals and answers, some with contact data."""
    rng = random.Random(seed)
    outputs = []
    for _ in range(count):
        if rng.random() < 0.4:
            outputs.append(rng.choice(REFUSALS))
        else:
            outputs.append(
                rng.choice(ANSWERS).format(
                    x=rng.choice(WORDS),
                    name=rng.choice(["ana", "li.wei", "tom"]),
                    n=rng.randrange(10_000),
                )
            )
    return outputs


def _probes_for(count: int) -> list[Probe]:
    probes = merge_probe_files(builtin_probe_files())
    return [probes[i % len(probes)] for i in range(count)]


def baseline_scores(outputs: list[str], scorers: SafetyScorers) -> list[tuple]:
    """One output at a time through the same three scorers."""
    rows = []
    for text in outputs:
        verdict = scorers.refusal.detect([text])[0]
        leaked = scorers.pii.leaked_entities([text])[0]
        toxicity = scorers.toxicity.score([text])[0]
        rows.append((verdict.refused, verdict.disagreed, leaked, round(toxicity, 6)))
    return rows


def tiny_suite_seconds(
    per_group: int, max_new_tokens: int, threads: int | None
) -> tuple[int, float]:
    """Probes run and seconds for the whole suite on the tiny model the tests use."""
    from lmops_hf.base_model import tiny_model
    from lmops_hf.generation import TorchGenerator, load_causal_lm

    folder = tiny_model(Path(tempfile.mkdtemp(prefix="bench-safety-")) / "tiny")
    model, tokenizer = load_causal_lm(folder)
    generator = TorchGenerator(model, tokenizer)
    probes = select_probes(
        merge_probe_files(builtin_probe_files()), languages=None, per_group=per_group
    )
    scorers = SafetyScorers.default()
    started = time.perf_counter()
    with torch_threads(threads):
        run_suite(generator, probes, scorers, max_new_tokens=max_new_tokens)
    return len(probes), time.perf_counter() - started


def main() -> None:
    """Measure both sides on the same outputs, then the tiny-model suite; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default, text in OPTIONS:
        parser.add_argument(flag, type=int, default=default, help=text)
    args = parser.parse_args()

    outputs = synthetic_outputs(args.outputs, args.seed)
    probes = _probes_for(len(outputs))
    scorers = SafetyScorers.default()
    # Load every engine before timing either side.
    score_outputs(probes[:8], outputs[:8], scorers)

    started = time.perf_counter()
    base = baseline_scores(outputs, scorers)
    base_s = time.perf_counter() - started
    started = time.perf_counter()
    ours = score_outputs(probes, outputs, scorers)
    ours_s = time.perf_counter() - started
    same = base == [(o.refused, o.disagreed, o.pii_entities, round(o.toxicity, 6)) for o in ours]

    n_probes, suite_s = tiny_suite_seconds(
        args.per_group, args.max_new_tokens, args.threads or None
    )

    print(f"\nlmops-safety scoring, {len(outputs)} synthetic outputs (seed {args.seed})\n")
    print(f"| {'what':<40} | {'items':>6} | {'seconds':>8} | {'items/s':>9} | {'ratio':>6} |")
    print(f"|{'-' * 42}|{'-' * 8}|{'-' * 10}|{'-' * 11}|{'-' * 8}|")
    print(
        f"| {'baseline: one output at a time':<40} | {len(outputs):>6} | {base_s:>8.2f} "
        f"| {len(outputs) / base_s:>9.1f} | {1.0:>6.2f} |"
    )
    print(
        f"| {'score_outputs (batched)':<40} | {len(outputs):>6} | {ours_s:>8.2f} "
        f"| {len(outputs) / ours_s:>9.1f} | {base_s / ours_s:>6.2f} |"
    )
    print(
        f"| {'whole suite on tiny Llama (gen+score)':<40} | {n_probes:>6} | {suite_s:>8.2f} "
        f"| {n_probes / suite_s:>9.1f} | {'-':>6} |"
    )
    print(f"\nsame verdicts and scores as the baseline: {same}")
    print(
        f"whole suite: {suite_s / n_probes:.3f} s per probe, max_new_tokens="
        f"{args.max_new_tokens}, threads={args.threads or 'default'}"
    )


if __name__ == "__main__":
    main()
