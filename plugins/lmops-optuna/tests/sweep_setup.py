"""What the sweep tests share: an open policy, the store's settings, the inputs, a sweep's
parameters; also run as a script (``python sweep_setup.py HOME``) for the crash test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lmops_core.settings import Settings
from lmops_core.testing import read_jsonl, write_jsonl
from lmops_core.workspace import Workspace

PLUGIN = "lmops_optuna.plugin"
# Few steps, one thread: a trial of the tiny model takes about a second.
FIXED = {"max_steps": 4, "batch_size": 4, "threads": 1, "checkpoint_every": 100}
HELDOUT = {"threads": 1, "limit": 4}


def settings(home: Path) -> Settings:
    """The store's settings, the same in the test and in its subprocess. Its policy folder
    is empty: no rule asks for approved training data (the default policy does)."""
    policies = home.parent / "no-policies"
    policies.mkdir(parents=True, exist_ok=True)
    return Settings(home=home, actor="tester", plugins=[PLUGIN], policies_dir=policies)


def prepare(ws: Workspace, data: Path, tiny_model: Path) -> dict[str, str]:
    """The tiny base model, 8 training and 4 held-out instruction records: the sweep's inputs."""
    from lmops_hf.base_model import DATA_DIR

    base = ws.register_model("tiny", tiny_model, kind="base").ref
    rows = read_jsonl(DATA_DIR / "instructions.jsonl")
    train = write_jsonl(data / "train.jsonl", rows[:8])
    heldout = write_jsonl(data / "heldout.jsonl", rows[8:12])
    return {
        "base": base,
        "dataset": ws.register_dataset("train", train, shape="instruction").ref,
        "heldout": ws.register_dataset("heldout", heldout, shape="instruction").ref,
    }


def sweep_params(**changes: Any) -> dict[str, Any]:
    """A small sweep over learning rate and LoRA rank."""
    return {
        "space": {
            "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "lora_r": {"type": "categorical", "choices": [2, 4]},
        },
        "fixed": FIXED,
        "objective_params": HELDOUT,
        "sampler": "random",
        "report": False,
        **changes,
    }


if __name__ == "__main__":  # the crash test's sweep, killed while it runs
    home, study = Path(sys.argv[1]), sys.argv[2]
    refs = dict(a.split("=", 1) for a in sys.argv[3:])
    with Workspace.open(settings(home)) as ws:
        params = sweep_params(n_trials=3, study=study)
        ws.run_stage("training", "sweep", inputs=refs, params=params, seed=0)
