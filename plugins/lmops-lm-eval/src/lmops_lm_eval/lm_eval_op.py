"""The "lm-eval" evaluator: run lm-eval tasks on a model version, through lm-eval's own API."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_core.contracts import EvidenceRecord, InputAsset, StageContext, StageResult
from lmops_core.errors import StageError, ValidationError
from lmops_core.kit import BaseOperation
from lmops_lm_eval.lm_eval_results import flatten_results, primary_metric
from lmops_lm_eval.models import load_role
from lmops_lm_eval.params import LmEvalParams
from lmops_lm_eval.suite import Suite, load_suite
from lmops_lm_eval.taskfiles import (
    BUILTIN_TASKS,
    BUILTIN_TASKS_DIR,
    PreparedTasks,
    prepare_task_folders,
    task_config_digest,
)


@dataclass(frozen=True)
class EvalPlan:
    """What one lm-eval run will do, after params (and a suite) are resolved."""

    tasks: list[str]
    task_paths: list[Path]
    limit: int | None
    num_fewshot: int | None
    batch_size: int
    bootstrap_iters: int
    suite: Suite | None
    chat_template: bool | None
    """True/False: lm-eval's apply_chat_template; None: when the tokenizer has a template."""

    def selection(self) -> dict[str, Any]:
        """What ``simple_evaluate`` is asked to run: tasks, few-shot, limit, bootstrap."""
        return {k: getattr(self, k) for k in ("tasks", "num_fewshot", "limit", "bootstrap_iters")}


def plan_from_params(operation: str, params: LmEvalParams, suite: Suite | None = None) -> EvalPlan:
    """The run's plan; a registered ``suite`` supplies tasks, task folders, few-shot and limit."""
    if suite is not None and params.tasks is not None:
        raise ValidationError(
            f'operation "{operation}": give either parameter "tasks" or input "suite", not both',
            param="tasks",
        )

    def chosen(name: str) -> Any:
        # A param given explicitly wins over the suite's default for it.
        source = params if suite is None or name in params.model_fields_set else suite
        return getattr(source, name)

    return EvalPlan(
        tasks=list(suite.tasks) if suite else list(params.tasks or BUILTIN_TASKS),
        task_paths=list(suite.task_paths) if suite else [],
        limit=chosen("limit"),
        num_fewshot=chosen("num_fewshot"),
        batch_size=params.batch_size,
        bootstrap_iters=params.bootstrap_iters,
        suite=suite,
        chat_template=None if params.chat_template == "auto" else params.chat_template,
    )


def suite_of(operation: str, context: StageContext) -> tuple[Suite | None, InputAsset | None]:
    """The registered suite bound to input role "suite" (materialised by the core), if any."""
    suite_input = context.inputs.get("suite")
    if suite_input is None:
        return None, None
    if suite_input.asset_type != "suite" or suite_input.path is None:
        raise ValidationError(
            f'operation "{operation}": input "suite" must be a suite version (suite:NAME@N)',
            field="inputs.suite",
        )
    return load_suite(suite_input.path / "suite.yaml", root=suite_input.path), suite_input


def _no_git_hash() -> None:
    return None


def _versions_only(storage: dict[str, Any]) -> None:
    import lm_eval
    import transformers

    storage.update(
        lm_eval_version=lm_eval.__version__, transformers_version=transformers.__version__
    )


class _LightEnvironmentProbes:
    """While entered, lm-eval skips probing the caller's environment; restored on exit.

    ``simple_evaluate`` ends by running ``git describe`` in the current directory
    (git prints "fatal: not a git repository" outside one) and torch's
    ``collect_env`` (a second or two of subprocesses). What it finds describes the
    caller's shell, not the evaluation, and lmops records neither: the evidence
    holds the library versions and the task digests instead. lm-eval 0.4 has no
    option for this, so the two functions ``lm_eval.evaluator`` calls are swapped
    for the length of our own call only (counted, so overlapping evaluations in
    threads restore the originals when the last one ends); any other caller of
    lm-eval in the process gets lm-eval's own behaviour before and after.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> None:
        from lm_eval import evaluator

        with self._lock:
            if self._users == 0:
                self._saved = {
                    "get_git_commit_hash": evaluator.get_git_commit_hash,
                    "add_env_info": evaluator.add_env_info,
                }
                evaluator.get_git_commit_hash = _no_git_hash
                evaluator.add_env_info = _versions_only
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        from lm_eval import evaluator

        with self._lock:
            self._users -= 1
            if self._users == 0:
                for name, original in self._saved.items():
                    setattr(evaluator, name, original)
                self._saved = {}


light_environment_probes = _LightEnvironmentProbes()
"""Enter around a ``simple_evaluate`` call to skip its git and environment survey."""


def make_task_manager(task_paths: list[Path], workdir: Path) -> tuple[Any, PreparedTasks]:
    """An lm-eval ``TaskManager`` over our tasks and the user's, defaults left out."""
    from lm_eval.tasks import TaskManager

    prepared = prepare_task_folders([BUILTIN_TASKS_DIR, *task_paths], workdir)
    manager = TaskManager(
        include_path=[str(p) for p in prepared.include_paths], include_defaults=False
    )
    return manager, prepared


def _check_task_names(operation: str, manager: Any, tasks: list[str]) -> None:
    known = set(manager.all_tasks)
    unknown = next((name for name in tasks if name not in known), None)
    if unknown is not None:
        raise ValidationError(
            f'operation "{operation}": param "tasks": unknown task "{unknown}" '
            f"(known: {', '.join(sorted(known))})",
            param="tasks",
        )


def _write_samples(samples: Mapping[str, list[Mapping[str, Any]]], path: Path) -> int:
    count = 0
    with open(path, "w", encoding="utf-8") as fh:
        for task in sorted(samples):
            for sample in samples[task]:
                fh.write(json.dumps({"task": task, **sample}, ensure_ascii=False, default=str))
                fh.write("\n")
                count += 1
    return count


def _task_details(result: Mapping[str, Any], manager: Any, prepared: PreparedTasks) -> dict:
    details: dict[str, Any] = {}
    for task, config in result["configs"].items():
        entry = manager.task_index.get(task)
        yaml_path = getattr(entry, "yaml_path", None)
        original = prepared.originals.get(Path(yaml_path).resolve()) if yaml_path else None
        if original is None:
            raise StageError(f"lm-eval task {task} did not come from a prepared task folder")
        n = result.get("n-samples", {}).get(task, {})
        details[task] = {
            **task_config_digest(original, config, task_root=prepared.roots.get(original)),
            "yaml": str(original),
            "version": result.get("versions", {}).get(task),
            "output_type": config.get("output_type"),
            "num_fewshot": result.get("n-shot", {}).get(task),
            "samples_original": n.get("original"),
            "samples_effective": n.get("effective"),
        }
    return details


def evidence_from_result(
    result: Mapping[str, Any],
    *,
    subject: str,
    samples_path: Path,
    task_details: Mapping[str, Any],
    extra_details: Mapping[str, Any],
) -> EvidenceRecord:
    """The ``eval`` evidence for one lm-eval result dictionary."""
    import lm_eval
    from lm_eval.utils import make_table

    flat, skipped = flatten_results(result["results"])
    primaries = {}
    for task in result["configs"]:
        picked = primary_metric(result["results"].get(task, {}))
        if picked is not None:
            primaries[task] = picked
    if not primaries:
        raise StageError(
            "none of the tasks reports an accuracy-like metric "
            "(acc, exact_match, acc_norm), so eval evidence has no aggregate acc"
        )
    samples = sum(int(d["samples_effective"] or 0) for d in task_details.values())
    metrics: dict[str, Any] = dict(flat)
    metrics["acc"] = sum(v for _, v in primaries.values()) / len(primaries)
    metrics["samples"] = samples
    metrics["tasks"] = len(result["configs"])
    table = make_table(result)
    if result.get("groups"):
        table += "\n" + make_table(result, "groups")
    details = {
        "lm_eval_version": lm_eval.__version__,
        "tasks": dict(task_details),
        "primary_metric": {t: k for t, (k, _) in primaries.items()},
        "results": json.loads(json.dumps(result["results"], default=str)),
        "table": table,
        "skipped_values": skipped,
        **extra_details,
    }
    return EvidenceRecord(
        kind="eval",
        subject=subject,
        metrics=metrics,
        details=details,
        artifacts={"samples.jsonl": samples_path},
    )


class LmEvalEvaluator(BaseOperation[LmEvalParams]):
    """Evaluate a model version with lm-eval tasks (shipped facts/arithmetic tasks in English
    and Chinese, or any lm-eval task folder); torch and ONNX Runtime models.

    Operation "lm-eval": lm-eval tasks on the model under role "model".
    """

    name = "lm-eval"
    input_roles = {"model": "model", "base": "model", "suite": "suite"}
    evidence_kinds = ("eval",)

    def execute(self, context: StageContext, params: LmEvalParams) -> StageResult:
        """Run the tasks and return ``eval`` evidence on role "model"."""
        import lm_eval

        suite, suite_input = suite_of(self.name, context)
        plan = plan_from_params(self.name, params, suite)
        context.progress.start("lm-eval", total=3)
        manager, prepared = make_task_manager(plan.task_paths, context.workdir)
        _check_task_names(self.name, manager, plan.tasks)
        loaded = load_role(context, "model")
        context.progress.advance(1)
        seeds = {}
        if context.seed is not None:
            seeds = {
                k: context.seed
                for k in (
                    "random_seed",
                    "numpy_random_seed",
                    "torch_random_seed",
                    "fewshot_random_seed",
                )
            }
        # A chat model is evaluated the way it is prompted: through its chat template.
        chat = plan.chat_template
        if chat is None:
            chat = bool(getattr(loaded.tokenizer, "chat_template", None))
        with light_environment_probes:
            result = lm_eval.simple_evaluate(
                model=loaded.lm(batch_size=plan.batch_size),
                apply_chat_template=chat,
                task_manager=manager,
                log_samples=True,
                **plan.selection(),
                **seeds,
            )
        if result is None:
            raise StageError("lm-eval returned no results (not rank 0?)")
        context.progress.advance(1)
        samples_path = context.workdir / "lm_eval_samples.jsonl"
        _write_samples(result.get("samples", {}), samples_path)
        extra: dict[str, Any] = {
            "runtime": loaded.runtime,
            "model_kind": loaded.kind,
            "loader": loaded.loader,
            "limit": plan.limit,
            "num_fewshot": plan.num_fewshot,
            "bootstrap_iters": plan.bootstrap_iters,
            "chat_template": chat,
        }
        evidence = evidence_from_result(
            result,
            subject="model",
            samples_path=samples_path,
            task_details=_task_details(result, manager, prepared),
            extra_details=extra,
        )
        if plan.suite is not None:
            evidence = _with_suite(evidence, plan.suite, suite_input)
        context.progress.advance(1)
        context.progress.finish()
        return StageResult(
            evidence=[evidence],
            metrics={"acc": float(evidence.metrics["acc"])},
            params={"tasks": plan.tasks, "limit": plan.limit, "num_fewshot": plan.num_fewshot},
        )


def _with_suite(
    evidence: EvidenceRecord, suite: Suite, registered: InputAsset | None = None
) -> EvidenceRecord:
    rows = suite.check_thresholds(evidence.metrics)
    metrics = {**evidence.metrics, "suite_passed": all(r["passed"] for r in rows)}
    info: dict[str, Any] = {
        "name": suite.name,
        "version": suite.version,
        "digest": suite.digest,
        "thresholds": rows,
    }
    details = {**evidence.details}
    if registered is not None:
        info.update(ref=registered.ref, registry_digest=registered.digest)
        metrics["suite"] = registered.ref
        # Task code that ran (Python files, !function YAML), by the digests the registry holds.
        details["suite_code"] = list(registered.metadata.get("code_files", []))
    details["suite"] = info
    return EvidenceRecord(
        kind=evidence.kind,
        subject=evidence.subject,
        metrics=metrics,
        details=details,
        artifacts=evidence.artifacts,
    )
