"""Rewrite the shipped task data from lmops-hf's held-out instruction split.

The facts tasks ask the held-out questions about invented creatures' colour and
home, with the true answer sentence among three others built from the same
closed set (seeded); the arithmetic tasks ask the held-out sums. Rerun after
lmops-hf regenerates its data (``python -m lmops_hf.datagen``); output is
deterministic.

    .venv/bin/python plugins/lmops-lm-eval/scripts/make_task_data.py
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from lmops_lm_eval.taskfiles import BUILTIN_TASKS_DIR

COLORS_EN = ["blue", "red", "green", "yellow", "white", "black", "purple", "orange"]
COLORS_ZH = ["蓝色", "红色", "绿色", "黄色", "白色", "黑色", "紫色", "橙色"]
HOMES_EN = ["forest", "desert", "mountains", "river", "sea", "swamp"]
HOMES_ZH = ["森林", "沙漠", "山里", "河里", "海里", "沼泽"]

Pattern = tuple[str, re.Pattern[str], list[str], Callable[[str, str], str]]
FACTS: list[Pattern] = [
    ("en", re.compile(r"^The (.+) is (\w+)\.$"), COLORS_EN, lambda e, x: f"The {e} is {x}."),
    (
        "en",
        re.compile(r"^The (.+) lives in the (\w+)\.$"),
        HOMES_EN,
        lambda e, x: f"The {e} lives in the {x}.",
    ),
    ("zh", re.compile(r"^(.+)是(..)的。$"), COLORS_ZH, lambda e, x: f"{e}是{x}的。"),
    ("zh", re.compile(r"^(.+)住在(..)。$"), HOMES_ZH, lambda e, x: f"{e}住在{x}。"),
]
SUMS = [re.compile(r"^(\d) \+ (\d) = (\d+)\.$"), re.compile(r"^(\d)加(\d)等于(\d+)。$")]


def build(records: list[dict[str, str]]) -> dict[str, list[dict[str, object]]]:
    """Task rows keyed by data file (relative to the tasks folder)."""
    rng = random.Random(20261128)
    out: dict[str, list[dict[str, object]]] = {}

    def add(name: str, lang: str, row: dict[str, object]) -> None:
        rows = out.setdefault(name, [])
        rows.append({"id": f"{lang}-{len(rows):03d}", **row})

    for rec in records:
        prompt, response = rec["prompt"], rec["response"]
        if m := (SUMS[0].match(response) or SUMS[1].match(response)):
            lang = "en" if "+" in response else "zh"
            add(
                f"lmops_arith_gen/arith_gen_{lang}.jsonl",
                lang,
                {"prompt": prompt, "answer": m.group(3)},
            )
            continue
        for lang, pattern, pool, sentence in FACTS:
            m = pattern.match(response)
            if m and m.group(2) in pool:
                subject, truth = m.group(1), m.group(2)
                wrong = rng.sample([x for x in pool if x != truth], 3)
                choices = [sentence(subject, x) for x in [*wrong, truth]]
                rng.shuffle(choices)
                add(
                    f"lmops_facts_mc/facts_mc_{lang}.jsonl",
                    lang,
                    {"prompt": prompt, "choices": choices, "label": choices.index(response)},
                )
                break
    return out


def main() -> None:
    """Read lmops-hf's held-out split, write the four data files."""
    source = resources.files("lmops_hf") / "data" / "instructions_heldout.jsonl"
    records = [json.loads(x) for x in source.read_text(encoding="utf-8").splitlines() if x]
    for name, rows in build(records).items():
        path: Path = BUILTIN_TASKS_DIR / name
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        print(f"{name}: {len(rows)} rows")


if __name__ == "__main__":
    main()
