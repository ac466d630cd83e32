"""Benchmark: what governance costs a hyperparameter sweep.

A sweep of N trials on the "bench" base model (``sweep`` through a workspace:
every trial a recorded training run and a recorded held-out evaluation, the
Optuna study in the registry's SQLite database, the evidence and report at the
end) against the very same N trials run as plain sequential calls of the same
training and evaluation code (the trainer and evaluator objects called on a
hand-built context over local folders: no registry, no artifact store, no
study). Both run warm in one process, after a warm-up: a plain trial, and a
governed sweep of two trials on a study of its own, which opens the study storage
and imports what the report draws with (once per process: the first importance
plot cost 1.2 CPU-s at load 9, mostly importing scikit-learn, which Optuna's
importances import). Pruning is off so both do the same work; the sweep's sampled
parameters are replayed in the baseline (and must give the same objective). They alternate in blocks (the
sweep resumed block by block, each block paying the sweep's own start
again; the HTML report is written once, at the end), so both see the same
load on a shared machine; CPU seconds of this process are given beside wall
time. Overhead = governed / plain - 1
(goal: <= 5%). The CPU seconds spent inside the two operations' ``execute``
(training and the held-out loss, on both sides) are metered too: what is left
per trial is the governance's own cost (the plain side's is its harness).

    .venv/bin/python benchmarks/bench_sweep.py [--trials 20] [--steps 2] [--threads 1] [--block 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def plain_trial(
    files: dict[str, Path], work: Path, params: dict[str, Any], heldout_params: dict[str, Any]
) -> float:
    """One trial without lmops' recording: train, then the held-out loss of the adapter."""
    from lmops_hf.sft import SftTrainer
    from lmops_optuna.heldout import HeldoutLoss

    from lmops_core.contracts import InputAsset, Stage, StageContext

    def asset(role: str, kind: str, path: Path, typ: Any) -> InputAsset:
        return InputAsset(role, f"{role}@1", typ, kind, "sha256:" + "0" * 64, path)

    def context(stage: Stage, folder: str, values: dict[str, Any], **inputs: InputAsset) -> Any:
        (work / folder).mkdir(parents=True)
        return StageContext(
            stage=stage,
            operation=folder,
            workdir=work / folder,
            actor="bench",
            run_id=folder,
            seed=0,
            params=values,
            inputs=inputs,
        )

    base_in = asset("base", "base", files["base"], "model")
    data = asset("dataset", "instruction", files["train"], "dataset")
    trained = SftTrainer().run(context(Stage.TRAINING, "train", params, base=base_in, dataset=data))
    adapter = next(o.path for o in trained.outputs if o.role == "adapter")
    held = asset("dataset", "instruction", files["heldout"], "dataset")
    model = asset("model", "adapter", adapter, "model")
    scored = HeldoutLoss().run(
        context(Stage.EVALUATION, "eval", heldout_params, model=model, base=base_in, dataset=held)
    )
    return float(scored.metrics["heldout_loss"])


def main() -> None:
    """Build the bench model and data, time the governed sweep and the plain trials."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--block", type=int, default=5, help="trials per governed/plain block")
    args = parser.parse_args()

    import optuna
    import torch
    from lmops_hf.base_model import DATA_DIR, create_base_model
    from lmops_optuna.study import study_storage
    from transformers.utils import logging as hf_logging

    from lmops_core.settings import Settings
    from lmops_core.testing import read_jsonl, write_jsonl
    from lmops_core.workspace import Workspace
    from policies import production_policy  # benchmarks/policies.py: governs promotions only

    operations_cpu = meter_operations()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    root = Path(tempfile.mkdtemp(prefix="lmops-bench-sweep-"))
    base = create_base_model(root / "bench", size="bench", seed=0)
    rows = read_jsonl(DATA_DIR / "instructions.jsonl")
    train = write_jsonl(root / "train.jsonl", rows[:32])
    heldout = write_jsonl(root / "heldout.jsonl", rows[32:40])
    fixed = {
        "max_steps": args.steps,
        "batch_size": 8,
        "max_length": 64,
        "threads": args.threads,
        "checkpoint_every": 10_000,
        "lora_dropout": 0.0,
    }
    heldout_params = {"threads": args.threads, "max_length": 64}
    space = {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "lora_r": {"type": "categorical", "choices": [4, 8, 16]},
        "lora_alpha": {"type": "categorical", "choices": [8, 16, 32]},
    }

    # Warm-up (excluded): imports, first model load, allocator.
    files = {"base": base, "train": train, "heldout": heldout}
    plain_trial(files, root / "warm", {**fixed, "learning_rate": 1e-3}, heldout_params)

    (root / "policies").mkdir()
    (root / "policies" / "bench.yaml").write_text(production_policy(), encoding="utf-8")
    settings = Settings(
        home=root / "home",
        actor="bench",
        plugins=["lmops_optuna.plugin"],
        policies_dir=root / "policies",
    )
    storage_url = settings.resolved_database_url
    governed, plain = Clock(), Clock()
    with Workspace.open(settings) as ws:
        refs = {
            "base": ws.register_model("bench", base, kind="base").ref,
            "dataset": ws.register_dataset("train", train, shape="instruction").ref,
            "heldout": ws.register_dataset("heldout", heldout, shape="instruction").ref,
        }

        # Warm-up of the governed side (excluded), as the plain side's warm-up trial: a sweep
        # of two trials on a study of its own opens the study storage and imports what its
        # report draws with (plotly; scikit-learn, which Optuna's importances import).
        def sweep(study: str, n_trials: int, report: bool) -> Any:
            params = {
                "space": space,
                "fixed": fixed,
                "objective_params": heldout_params,
                "n_trials": n_trials,
                "pruner": "none",
                "sampler": "tpe",
                "study": study,
                "report": report,
            }
            return ws.run_stage("training", "sweep", inputs=refs, seed=0, params=params)

        sweep("bench-warm-up", 2, True)
        # Blocks of governed then plain trials, so both see the same load on a shared
        # machine: the sweep is resumed block by block (its study grows by `block` trials).
        done = 0
        while done < args.trials:
            start, done = done, min(args.trials, done + args.block)
            with governed, operations_cpu.side(governed):
                # One HTML report, at the end, as a sweep run in one session writes it.
                outcome = sweep("bench", done, done == args.trials)
            study = optuna.load_study(study_name="bench", storage=study_storage(storage_url))
            block = [(t.number, t.params, t.value) for t in study.trials if t.number >= start]
            with plain, operations_cpu.side(plain):
                for number, values, value in block:
                    got = plain_trial(
                        files,
                        root / f"plain{number}",
                        {**fixed, **values},
                        heldout_params,
                    )
                    assert abs(got - value) < 1e-4, (number, got, value)  # same work, same result
        print(
            f"sweep run {outcome.run_id}: {done} trials, best {outcome.metrics['best_objective']:.4f}"
        )

    n = args.trials
    print(
        f"bench model, {n} trials of {args.steps} steps (batch 8, max_length 64), held-out "
        f"loss on 8 records, {args.threads} torch thread(s), CPU; blocks of {args.block}"
    )
    print("| what | wall s | s/trial | CPU s | wall vs plain | CPU vs plain |")
    print("|---|---|---|---|---|---|")
    for name, clock in (
        ("plain sequential trials (baseline)", plain),
        ("governed sweep", governed),
    ):
        print(
            f"| {name} | {clock.wall:.1f} | {clock.wall / n:.2f} | {clock.cpu:.1f} "
            f"| {clock.wall / plain.wall:.3f}x | {clock.cpu / plain.cpu:.3f}x |"
        )
    print(
        f"governance overhead: {100 * (governed.wall / plain.wall - 1):+.1f}% of wall time, "
        f"{100 * (governed.cpu / plain.cpu - 1):+.1f}% of CPU time (goal <= 5%)"
    )
    for name, clock in (("plain", plain), ("governed", governed)):
        print(
            f"{name}: CPU s per trial inside training + held-out loss "
            f"{clock.inside / n:.3f}, outside them {(clock.cpu - clock.inside) / n:.3f}"
        )
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")


class OperationsMeter:
    """CPU seconds spent inside the metered operations, added to the side now running."""

    def __init__(self) -> None:
        self.current: Clock | None = None

    @contextlib.contextmanager
    def side(self, clock: Clock) -> Iterator[None]:
        """Meter into ``clock`` while the block runs."""
        self.current = clock
        try:
            yield
        finally:
            self.current = None

    def wrap(self, execute: Callable[..., Any]) -> Callable[..., Any]:
        """``execute``, its CPU seconds added to the current side."""

        def metered(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return execute(*args, **kwargs)
            finally:
                if self.current is not None:
                    self.current.inside += time.process_time() - started

        return metered


def meter_operations() -> OperationsMeter:
    """Meter the trainer's and the evaluator's ``execute`` (the same code on both sides)."""
    from lmops_hf.sft import SftTrainer
    from lmops_optuna.heldout import HeldoutLoss

    meter = OperationsMeter()
    for cls in (SftTrainer, HeldoutLoss):
        cls.execute = meter.wrap(cls.execute)  # type: ignore[method-assign]
    return meter


class Clock:
    """Wall and CPU seconds (this process: other users of a shared machine do not count)
    spent inside ``with clock:`` blocks."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.inside = 0.0

    def __enter__(self) -> Clock:
        self._t = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._t[0]
        self.cpu += time.process_time() - self._t[1]


if __name__ == "__main__":
    main()
