"""What SFT and DPO share: parameters, Trainer arguments, callbacks, checkpoints, outputs.

Both run through ``transformers.Trainer`` (DPO through trl's subclass), so
one checkpoint format and one resume path serve both: Trainer restores the
optimizer, scheduler, RNG states and data position, which is what makes an
interrupted-then-resumed run end on exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from lmops_core.contracts import (
    EvidenceRecord,
    InputAsset,
    OutputAsset,
    ProgressReporter,
    StageContext,
    StageResult,
)
from lmops_core.errors import StageError, ValidationError
from lmops_core.kit import BaseOperation
from lmops_core.runtimes import torch_threads
from lmops_core.weights import refuse_pickle
from lmops_hf.loading import check_model_folder

CHECKPOINT_META = "lmops_training.json"
# Params that may differ between an interrupted session and its resumption.
SESSION_PARAMS = {
    "resume_from",
    "max_steps_this_session",
    "checkpoint_every",
    "keep_checkpoints",
    "threads",
}


P = TypeVar("P", bound=BaseModel)


class TrainingOperation(BaseOperation[P]):
    """Base of lmops-hf's trainers: role "base" (a model) and role "dataset" in, one
    "training" evidence record per output version out."""

    input_roles = {"base": "model", "dataset": "dataset"}
    evidence_kinds = ("training",)


def run_fingerprint(
    operation: str, params: Mapping[str, Any], seed: int, inputs: Mapping[str, InputAsset]
) -> dict[str, Any]:
    """What must match between a checkpoint and the run that resumes from it."""
    fixed = {k: v for k, v in sorted(params.items()) if k not in SESSION_PARAMS}
    return {
        "operation": operation,
        "seed": seed,
        "params": fixed,
        "inputs": {role: a.digest for role, a in sorted(inputs.items())},
    }


def check_resume_folder(path: Path, fingerprint: Mapping[str, Any], allow_pickle: bool) -> None:
    """Refuse a checkpoint that is missing, unsafe, or from a different run setup."""
    if not (path / "trainer_state.json").is_file():
        raise ValidationError(
            f"resume_from: {path} is not a training checkpoint (no trainer_state.json)",
            field="resume_from",
        )
    meta_path = path / CHECKPOINT_META
    if not meta_path.is_file():
        raise ValidationError(
            f"resume_from: {path} has no {CHECKPOINT_META}; it was not written by lmops-hf",
            field="resume_from",
        )
    saved = json.loads(meta_path.read_text(encoding="utf-8"))
    for key in ("operation", "seed", "inputs"):
        if saved.get(key) != fingerprint[key]:
            raise ValidationError(
                f"resume_from: checkpoint {key} {saved.get(key)!r} differs from this run's "
                f"{fingerprint[key]!r}",
                field="resume_from",
            )
    for name, value in fingerprint["params"].items():
        if saved["params"].get(name) != value:
            raise ValidationError(
                f"resume_from: param {name!r} was {saved['params'].get(name)!r} in the "
                f"checkpoint, {value!r} now; resume with the same params",
                field=name,
            )
    # Model weights in a checkpoint must be safetensors like any other; optimizer, scheduler
    # and RNG state (*.pt, *.pth) are torch files that Trainer loads with weights_only=True,
    # the restricted unpickler that builds tensors and plain containers only.
    for weights in list(path.glob("*.bin")) + list(path.glob("*.ckpt")):
        if weights.name != "training_args.bin":
            refuse_pickle(weights, display_name=f"resume_from: {weights}", allow=allow_pickle)
    check_model_folder_files(path)


def check_model_folder_files(path: Path) -> None:
    """Every ``*.safetensors`` in a checkpoint must parse (no renamed pickles)."""
    from safetensors import safe_open

    for weights in path.glob("*.safetensors"):
        try:
            with safe_open(str(weights), framework="pt"):
                pass
        except Exception as exc:
            raise ValidationError(
                f"resume_from: {weights} is not valid safetensors ({exc})", field="resume_from"
            ) from exc


def check_base(context: StageContext, allow_pickle: bool) -> Path:
    """The base model folder, checked for pickle content."""
    base = context.input("base")
    if base.asset_type != "model" or base.path is None:
        raise ValidationError('role "base" must be a model version with a folder', field="base")
    check_model_folder(base.path, allow_pickle=allow_pickle, role="base")
    return base.path


def training_inputs(
    context: StageContext, operation: str, kinds: tuple[str, ...], expected: str
) -> tuple[int, InputAsset, InputAsset]:
    """The run's seed and its "base" and "dataset" inputs; a dataset of another kind than
    ``kinds`` (``expected`` says which, for the message) or without a file is refused."""
    seed = 0 if context.seed is None else int(context.seed)
    base, dataset = context.input("base"), context.input("dataset")
    if dataset.kind not in kinds or dataset.path is None:
        raise ValidationError(
            f'{operation}: role "dataset" must be {expected} (got kind {dataset.kind!r})',
            field="dataset",
        )
    return seed, base, dataset


def prepare_run(
    context: StageContext, operation: str, params: Mapping[str, Any], seed: int
) -> tuple[Path, dict[str, Any]]:
    """The checked base folder and the run's fingerprint; a folder to resume from is checked
    against that fingerprint before anything loads."""
    base_dir = check_base(context, params["allow_pickle"])
    fingerprint = run_fingerprint(operation, params, seed, context.inputs)
    if params["resume_from"]:
        check_resume_folder(Path(params["resume_from"]), fingerprint, params["allow_pickle"])
    return base_dir, fingerprint


def training_arguments(
    args_cls: type, workdir: Path, params: Mapping[str, Any], seed: int, **extra: Any
) -> Any:
    """Trainer arguments for a deterministic, checkpointed CPU run."""
    steps: dict[str, Any] = (
        {"max_steps": params["max_steps"]}
        if params["max_steps"]
        else {"num_train_epochs": float(params["epochs"])}
    )
    return args_cls(
        output_dir=str(workdir / "checkpoints"),
        use_cpu=True,
        report_to=[],
        seed=seed,
        data_seed=seed,
        per_device_train_batch_size=params["batch_size"],
        gradient_accumulation_steps=params["gradient_accumulation_steps"],
        learning_rate=float(params["learning_rate"]),
        lr_scheduler_type=params["lr_scheduler"],
        warmup_steps=params["warmup_steps"],
        weight_decay=float(params["weight_decay"]),
        max_grad_norm=float(params["max_grad_norm"]),
        save_strategy="steps",
        save_steps=params["checkpoint_every"],
        save_total_limit=params["keep_checkpoints"],
        logging_steps=1,
        disable_tqdm=True,
        dataloader_num_workers=0,
        **steps,
        **extra,
    )


def make_callbacks(
    progress: ProgressReporter, fingerprint: Mapping[str, Any], stop_after: int | None
) -> list[Any]:
    """Progress reporting, checkpoint metadata and the optional session stop, as callbacks."""
    from transformers import TrainerCallback

    class LmopsCallback(TrainerCallback):
        """Bridges Trainer events to lmops progress, checkpoint metadata and session limits."""

        def __init__(self) -> None:
            self.reported = 0
            self.session_start: int | None = None
            self.stopped_early = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress.start("training", total=state.max_steps)

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.session_start is None:
                self.session_start = state.global_step
                self.reported = state.global_step
                if state.global_step:
                    progress.advance(state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            done = state.global_step - (self.session_start or 0)
            if (
                stop_after is not None
                and done >= stop_after
                and state.global_step < state.max_steps
            ):
                control.should_save = True
                control.should_training_stop = True
                self.stopped_early = True

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs and state.global_step > self.reported:
                progress.advance(state.global_step - self.reported, loss=float(logs["loss"]))
                self.reported = state.global_step

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / CHECKPOINT_META).write_text(
                    json.dumps(fingerprint, indent=2, sort_keys=True), encoding="utf-8"
                )

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            progress.finish()

    return [LmopsCallback()]


def quiet(trainer: Any) -> None:
    """Drop Trainer's stdout printer: progress goes through the lmops reporter."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)


def stop_if_interrupted(callback: Any, trainer: Any, workdir: Path) -> None:
    """After a session limit, raise with the checkpoint to resume from."""
    if not callback.stopped_early:
        return
    step = trainer.state.global_step
    checkpoint = workdir / "checkpoints" / f"checkpoint-{step}"
    raise StageError(
        f"training stopped after step {step} of {trainer.state.max_steps} "
        f"(max_steps_this_session); resume with resume_from={str(checkpoint)!r}",
        checkpoint=str(checkpoint),
        step=step,
    )


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped the weights."""
    import peft
    import torch
    import transformers

    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "python": platform.python_version(),
    }
    # trl is only needed by DPO: its version without importing it (seconds).
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        versions["trl"] = importlib.metadata.version("trl")
    return versions


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def loss_series(trainer: Any) -> list[float]:
    """Per-step training loss over the whole run, earlier sessions included."""
    return [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]


def weights_digest(folder: Path) -> str:
    """A sha256 over the safetensors files of a saved model (for the evidence record)."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.safetensors")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return f"sha256:{h.hexdigest()}"


def save_outputs(
    model: Any,
    tokenizer: Any,
    workdir: Path,
    params: Mapping[str, Any],
    base: InputAsset,
    dataset: InputAsset,
    seed: int,
    **metadata: Any,
) -> list[OutputAsset]:
    """Write the adapter (and merged model), or the full model; describe them as outputs
    (metadata: base, method, seed, dataset digest, then ``metadata``)."""
    meta = {
        "base_digest": base.digest,
        "base_ref": base.ref,
        "method": params["method"],
        "seed": seed,
        "dataset_digest": dataset.digest,
        **metadata,
    }

    def save(trained: Any, role: str) -> OutputAsset:
        folder = workdir / role
        trained.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        kind = "full" if role == "model" else role
        return OutputAsset(
            role=role,
            asset_type="model",
            path=folder,
            kind=kind,
            derived_from=["base", "dataset"],
            format="safetensors",
            metadata=meta,
        )

    if params["method"] == "full":
        return [save(model, "model")]
    outputs = [save(model, "adapter")]
    if params["merge"]:
        outputs.append(save(model.merge_and_unload(), "merged"))
    return outputs


def training_result(
    operation: str,
    outputs: list[OutputAsset],
    metrics: Mapping[str, Any],
    params: dict[str, Any],
    info: dict[str, Any],
    series: dict[str, list[float]],
) -> StageResult:
    """A training run's result: its outputs, each with one "training" evidence record
    (``metrics`` plus method and operation; details: params, ``info`` and the weights digest)."""
    recorded = {**metrics, "method": params["method"], "operation": operation}
    evidence = [
        EvidenceRecord(
            kind="training",
            subject=o.role,
            metrics=dict(recorded),
            details={"params": params, **info, "weights_digest": weights_digest(o.path)},
        )
        for o in outputs
    ]
    return StageResult(
        outputs=outputs,
        evidence=evidence,
        metrics={k: float(v) for k, v in metrics.items()},
        series=series,
        params=params,
        info=info,
    )


def train(trainer: Any, callbacks: list[Any], params: Mapping[str, Any], workdir: Path) -> float:
    """Train (resuming when asked) within the run's thread budget; return the seconds it took.
    A session stopped at ``max_steps_this_session`` ends the run here, checkpoint kept."""
    quiet(trainer)
    timer = Timer()
    with torch_threads(params["threads"]):
        trainer.train(resume_from_checkpoint=params["resume_from"])
    duration = timer.elapsed()
    stop_if_interrupted(callbacks[0], trainer, workdir)
    return duration


def training_metrics(
    trainer: Any, duration: float, tokens: float, trainable: int, total: int
) -> dict[str, Any]:
    """The metrics every training operation records: losses, steps, speed and the share of
    parameters trained."""
    losses = loss_series(trainer)
    return {
        "train_loss": sum(losses) / len(losses),
        "final_loss": losses[-1],
        "first_loss": losses[0],
        "steps": trainer.state.global_step,
        "duration_s": duration,
        "tokens_per_s": tokens / duration if duration > 0 else 0.0,
        "trainable_params": trainable,
        "total_params": total,
        "trainable_fraction": trainable / total,
    }


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds elapsed."""
        return time.perf_counter() - self.start


def prepare_model(base_dir: Path, params: Mapping[str, Any], seed: int) -> Any:
    """The model to train: the base wrapped in LoRA, or the base itself for full fine-tuning.

    Seeding just before PEFT draws the adapter's initial weights makes them a
    function of ``seed`` alone.
    """
    import torch

    from lmops_hf.loading import load_base_model

    torch.manual_seed(seed)
    model = load_base_model(base_dir, allow_pickle=params["allow_pickle"], role="base")
    if params["method"] == "full":
        return model
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=params["lora_r"],
        lora_alpha=params["lora_alpha"],
        lora_dropout=float(params["lora_dropout"]),
        target_modules=list(params["target_modules"]),
        modules_to_save=list(params["modules_to_save"]) if params["modules_to_save"] else None,
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:  # peft's message names the modules it could not find
        raise ValidationError(f"param 'target_modules': {exc}", field="target_modules") from exc
