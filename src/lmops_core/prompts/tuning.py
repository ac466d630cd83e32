"""Prompt optimisation: evaluate variants of a prompt with one model, keep the best.

Each variant becomes a prompt version of the base prompt's asset (tagged with the base
and the rule that made it); every candidate, the base included, is evaluated by the same
evaluation runs with the same model version, so each has evidence about the pair; the
best by one metric gets the alias ``candidate``. Nothing is promoted: the winner goes
through the same production gate as any prompt.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_core.contracts import Stage
from lmops_core.datasets.readers import iter_records
from lmops_core.errors import ValidationError
from lmops_core.prompts.evaluation import PROMPT_ROLE
from lmops_core.prompts.spec import PromptSpec
from lmops_core.prompts.variants import Variant, given_variants, rule_variants
from lmops_core.registry.schemas import DatasetVersionPublic, PromptVersionPublic

if TYPE_CHECKING:  # the facade calls this module with itself; nothing here reaches below it
    from lmops_core.workspace import Workspace

CANDIDATE_ALIAS = "candidate"
"""The alias the best variant gets."""


@dataclass(frozen=True)
class EvaluationRun:
    """One evaluation operation run on every candidate (with ``model`` and ``prompt`` added
    to ``inputs``)."""

    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantRules:
    """Which variants to try: listed ``templates``, one per added instruction, and one per
    count in ``shots`` of few-shot examples drawn with ``seed`` from the instruction dataset
    ``few_shot`` (``seed`` is also the evaluation runs' seed)."""

    templates: Sequence[str] = ()
    instructions: Sequence[str] = ()
    few_shot: str | None = None
    shots: Sequence[int] = ()
    seed: int = 0


@dataclass(frozen=True)
class Trial:
    """A candidate prompt version, the rule that made it, and its score."""

    ref: str
    rule: str
    score: float


@dataclass(frozen=True)
class OptimisationResult:
    """Every trial in the order tried (the base first) and the best one's reference."""

    base: str
    model: str
    metric: str
    trials: list[Trial]
    best: str


def _metric_parts(metric: str) -> tuple[str, str]:
    kind, sep, name = metric.partition(".")
    if not sep or not kind or not name:
        raise ValidationError(
            f"metric {metric!r} must be KIND.METRIC, e.g. ratings.score_mean", field="metric"
        )
    return kind, name


def _few_shot_records(ws: Workspace, ref: str) -> list[dict[str, str]]:
    version = ws.get(ref)
    if not isinstance(version, DatasetVersionPublic) or version.shape != "instruction":
        raise ValidationError(
            f"{version.ref}: few-shot examples come from an instruction dataset (prompt, response)",
            field="few_shot",
        )
    with tempfile.TemporaryDirectory(prefix="lmops-shots-") as tmp:
        path = ws.export(version.ref, Path(tmp) / "data.jsonl")
        return [
            {"prompt": str(r["prompt"]), "response": str(r["response"])}
            for _, r, problem in iter_records(path)
            if problem is None and r is not None
        ]


def _score(ws: Workspace, ref: str, model: str, metric: str) -> float:
    kind, name = _metric_parts(metric)
    found = ws.evidence(ref, kind=kind, paired=model)
    if not found:
        raise ValidationError(
            f"no {kind!r} evidence about {ref} with {model}: the evaluation runs must record "
            f"the metric {metric!r}",
            field="metric",
        )
    value = found[-1].metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(
            f"{kind!r} evidence about {ref} has no finite number {name!r}", field="metric"
        )
    return float(value)


def optimise_prompt(
    ws: Workspace,
    base: str,
    *,
    evaluations: Sequence[EvaluationRun],
    metric: str,
    rules: VariantRules,
    model: str | None = None,
    higher_is_better: bool = True,
) -> OptimisationResult:
    """Try the variants ``rules`` make of prompt version ``base`` with ``model`` (default:
    the prompt's target model); give the best by ``metric`` (``KIND.METRIC``) the alias
    ``candidate``.

    Each variant is recorded as a prompt version targeting the model, then every candidate
    (the base first) is evaluated by each of ``evaluations``. Ties keep the earlier
    candidate, so a variant must beat the base to win.
    """
    _metric_parts(metric)
    if not evaluations:
        raise ValidationError("give at least one evaluation run", field="evaluations")
    start = ws.get(base)
    if not isinstance(start, PromptVersionPublic):
        raise ValidationError(f"{start.ref} is a {start.asset_type}, not a prompt", field="base")
    target = model or start.target_model
    if target is None:
        raise ValidationError(
            f"{start.ref} names no target model: give the model version to optimise for",
            field="model",
        )
    target = ws.get(target if ":" in target.split("@")[0] else f"model:{target}").ref
    spec = PromptSpec(start.template, tuple(start.variables), start.system_prompt)
    if rules.shots and rules.few_shot is None:
        raise ValidationError("few-shot counts need a dataset (few_shot)", field="few_shot")
    examples = _few_shot_records(ws, rules.few_shot) if rules.few_shot is not None else []
    variants = given_variants(spec, rules.templates, name=start.name) + rule_variants(
        spec,
        instructions=rules.instructions,
        examples=examples,
        shots=rules.shots,
        seed=rules.seed,
    )
    if not variants:
        raise ValidationError(
            "no variants: give templates, instructions or shots", field="variants"
        )
    candidates = [(start.ref, "base")] if start.target_model == target else []
    if not candidates:  # the base as written for another model: re-targeted, as a variant
        variants.insert(0, Variant(spec, "retarget"))
    candidates += [_record(ws, start, v, target) for v in variants]
    trials = []
    for ref, rule in candidates:
        for run in evaluations:
            inputs = {**run.inputs, "model": target, PROMPT_ROLE: ref}
            ws.run_stage(
                Stage.EVALUATION, run.operation, inputs=inputs, params=run.params, seed=rules.seed
            )
        trials.append(Trial(ref, rule, _score(ws, ref, target, metric)))
    sign = 1.0 if higher_is_better else -1.0
    best = max(trials, key=lambda t: sign * t.score)  # max keeps the first of equals
    ws.set_alias(best.ref, CANDIDATE_ALIAS)
    return OptimisationResult(start.ref, target, metric, trials, best.ref)


def _record(
    ws: Workspace, base: PromptVersionPublic, variant: Variant, model: str
) -> tuple[str, str]:
    created = ws.create_prompt(
        base.name,
        variant.spec.template,
        variables=variant.spec.variables,
        system_prompt=variant.spec.system_prompt,
        target_model=model,
        description=f"variant of {base.ref} ({variant.rule})",
    )
    ws.tag(created.ref, "variant_of", base.ref)
    ws.tag(created.ref, "variant_rule", variant.rule)
    return created.ref, variant.rule
