"""Plain lm-eval runs, written the way an lm-eval user writes them, outside lmops.

Tests and benchmarks compare the "lm-eval" evaluator with these calls: same
model, same shipped tasks, no lmops code in between (the task folder is made
runnable by plain text replacement, not by :mod:`lmops_lm_eval.taskfiles`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmops_core.errors import StageError
from lmops_lm_eval.taskfiles import BUILTIN_TASKS_DIR


def direct_task_folder(root: Path) -> Path:
    """A copy of the shipped tasks under ``root`` with their data paths made absolute by hand."""
    dest = root / "direct_tasks"
    shutil.copytree(BUILTIN_TASKS_DIR, dest)
    for yaml_path in dest.rglob("*.yaml"):
        text = yaml_path.read_text(encoding="utf-8")
        for data in yaml_path.parent.glob("*.jsonl"):
            text = text.replace(f"test: {data.name}", f"test: {data}")
        yaml_path.write_text(text, encoding="utf-8")
    return dest


def run_direct(
    model_dir: Path, tasks_dir: Path, tasks: Sequence[str], *, limit: int | None
) -> dict[str, Any]:
    """``simple_evaluate`` on a transformers model folder, with the evaluator's defaults.

    The chat template is applied, as the evaluator does by default when the
    tokenizer has one (``chat_template: auto``): the tiny test models' tokenizers do.
    """
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    manager = TaskManager(include_path=str(tasks_dir), include_defaults=False)
    lm = HFLM(pretrained=model, tokenizer=tok, device="cpu", batch_size=8)
    result = lm_eval.simple_evaluate(
        model=lm,
        tasks=list(tasks),
        limit=limit,
        bootstrap_iters=1000,
        task_manager=manager,
        apply_chat_template=True,
    )
    if result is None:
        raise StageError("lm-eval returned no results (not rank 0?)")
    return result
