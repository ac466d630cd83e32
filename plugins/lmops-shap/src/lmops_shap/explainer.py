"""The ``shap`` explainer: token attributions for a model's answers, as evidence plus a report."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from lmops_hf.threads import torch_threads

from lmops_core.contracts import EvidenceKind, EvidenceRecord, Metric, StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_shap.attribution import ALGORITHMS, PromptAttribution, explain_prompt
from lmops_shap.loading import load_model
from lmops_shap.prompts import collect_prompts
from lmops_shap.redaction import TokenRedactor, default_redactor
from lmops_shap.report import ReportSection, write_report

EXPLANATION_EVIDENCE = EvidenceKind(
    name="explanation",
    description=(
        "SHAP token attributions of log p(answer | prompt) for a set of prompts, with an HTML "
        "report (report.html) built from shap's text plots and the top tokens per prompt."
    ),
    metrics=[
        Metric("prompts", "integer", "prompts", headline=True),
        Metric("tokens", "integer", "tokens"),
        Metric("mean_abs_attribution", "number", "log-prob", headline=True),
        Metric("seconds_per_prompt", "number", "s", "lower", headline=True),
        Metric("max_evals", "integer", "evaluations"),
        Metric("algorithm", "string"),
        Metric("redacted", "boolean"),
    ],
)
"""The evidence kind this plugin produces; policies read ``evidence.explanation.metrics.*``."""

_INT_PARAMS: dict[str, tuple[int, int, int]] = {
    # name: (default, low, high)
    "max_prompts": (20, 1, 1000),
    "max_new_tokens": (16, 1, 256),
    "max_evals": (200, 8, 100_000),
    "max_prompt_tokens": (64, 2, 1024),
    "top_k": (5, 1, 100),
    "batch_size": (32, 1, 1024),
}
_KNOWN_PARAMS = frozenset(_INT_PARAMS) | {"prompts", "algorithm", "threads"}


@dataclass(frozen=True)
class ShapParams:
    """Validated parameters of a shap run (see the README for each)."""

    max_prompts: int
    max_new_tokens: int
    max_evals: int
    max_prompt_tokens: int
    top_k: int
    batch_size: int
    algorithm: str
    threads: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> ShapParams:
        """Check ``params``; an unknown or invalid one raises ValidationError naming it."""
        unknown = sorted(set(params) - _KNOWN_PARAMS)
        if unknown:
            raise ValidationError(
                f'unknown param "{unknown[0]}" for the shap explainer '
                f'(known: {", ".join(sorted(_KNOWN_PARAMS))})',
                field=unknown[0],
            )
        values: dict[str, Any] = {}
        for name, (default, low, high) in _INT_PARAMS.items():
            value = params.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValidationError(
                    f'param "{name}" must be an integer from {low} to {high}, got {value!r}',
                    field=name,
                )
            values[name] = value
        algorithm = params.get("algorithm", "partition")
        if algorithm not in ALGORITHMS:
            raise ValidationError(
                f'param "algorithm" must be one of {", ".join(ALGORITHMS)}, got {algorithm!r}',
                field="algorithm",
            )
        threads = params.get("threads")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 256
        ):
            raise ValidationError(
                f'param "threads" must be an integer from 1 to 256, got {threads!r}',
                field="threads",
            )
        return cls(algorithm=algorithm, threads=threads, **values)


def _shown_tokens(attribution: PromptAttribution, redactor: TokenRedactor | None) -> list[str]:
    if redactor is None:
        return list(attribution.tokens)
    return redactor.redact_segments(attribution.prompt, attribution.tokens)


def _summary(index: int, attribution: PromptAttribution, shown: list[str], answer: str,
             top_k: int, redacted: bool) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "index": index,
        "tokens": len(attribution.values),
        "truncated": attribution.truncated,
        "answer_tokens": len(attribution.answer_ids),
        "log_prob": attribution.log_prob,
        "base_value": attribution.base_value,
        "seconds": attribution.seconds,
        "top_tokens": [
            {"position": position, "token": shown[position], "value": value}
            for position, value in attribution.top(top_k)
        ],
    }
    if redacted:
        # Only redacted text goes into evidence.
        summary["prompt_redacted"] = "".join(shown)
        summary["answer_redacted"] = answer
    return summary


class ShapExplainer:
    """Explains a torch model's greedy answers to prompts with SHAP's text masker."""

    name = "shap"
    input_roles = {"model": "model", "base": "model", "dataset": "dataset"}
    evidence_kinds = ("explanation",)
    description = (
        "Token attributions of log p(answer | prompt) with SHAP's text masker (partition or "
        "permutation explainer), summarised as evidence with a self-contained HTML report."
    )

    def run(self, context: StageContext) -> StageResult:
        """Answer each prompt greedily, attribute the answer to prompt tokens, report."""
        params = ShapParams.parse(context.params)
        prompts = collect_prompts(context, context.params, limit=params.max_prompts)
        model, tokenizer = load_model(context)
        redactor = default_redactor()
        seed = context.seed if context.seed is not None else 0
        options: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "max_evals": params.max_evals,
            "max_prompt_tokens": params.max_prompt_tokens,
            "algorithm": params.algorithm,
            "seed": seed,
            "batch_size": params.batch_size,
        }
        attributions: list[PromptAttribution] = []
        with torch_threads(params.threads):
            # The first explanation in a process compiles shap's numba kernels (seconds);
            # pay that on a throwaway prompt so seconds_per_prompt measures explanation alone.
            warm = time.perf_counter()
            explain_prompt(model, tokenizer, "warm up", **{**options, "max_new_tokens": 1,
                                                           "max_evals": 8})
            warmup_seconds = time.perf_counter() - warm
            context.progress.start("shap attributions", total=len(prompts))
            try:
                for index, prompt in enumerate(prompts):
                    attributions.append(explain_prompt(model, tokenizer, prompt, **options))
                    context.progress.advance(1, prompt=index)
            finally:
                context.progress.finish()
        return self._result(context, params, attributions, redactor, warmup_seconds)

    def _result(self, context: StageContext, params: ShapParams,
                attributions: list[PromptAttribution], redactor: TokenRedactor | None,
                warmup_seconds: float) -> StageResult:
        context.workdir.mkdir(parents=True, exist_ok=True)
        redacted = redactor is not None
        summaries, sections, dump = [], [], []
        for index, attribution in enumerate(attributions):
            shown = _shown_tokens(attribution, redactor)
            answer = redactor.redact_text(attribution.answer) if redactor else attribution.answer
            top = [(shown[p], p, v) for p, v in attribution.top(params.top_k)]
            # The plot shows the explanation's data: swap in the redacted segments.
            attribution.explanation.data = np.array(shown, dtype=object)
            sections.append(ReportSection(
                title=f"Prompt {index}", answer=answer, log_prob=attribution.log_prob,
                base_value=attribution.base_value, top_tokens=top,
                explanation=attribution.explanation, truncated=attribution.truncated))
            summaries.append(_summary(index, attribution, shown, answer, params.top_k, redacted))
            dump.append({"index": index, "tokens": shown, "values": list(attribution.values),
                         "base_value": attribution.base_value, "log_prob": attribution.log_prob})
        model = context.input("model")
        all_values = np.concatenate([np.abs(a.values) for a in attributions])
        seconds = sum(a.seconds for a in attributions)
        metrics: dict[str, Any] = {
            "prompts": len(attributions),
            "tokens": int(all_values.size),
            "mean_abs_attribution": float(all_values.mean()),
            "seconds_per_prompt": seconds / len(attributions),
            "warmup_seconds": warmup_seconds,
            "max_evals": params.max_evals,
            "algorithm": params.algorithm,
            "redacted": redacted,
        }
        method = {
            "explained": "log p(answer | prompt), answer generated greedily",
            "masker": "shap.maskers.Text(tokenizer)",
            "algorithm": params.algorithm,
            "max_evals": params.max_evals,
            "seed": context.seed if context.seed is not None else 0,
            "max_new_tokens": params.max_new_tokens,
            "max_prompt_tokens": params.max_prompt_tokens,
            "shap_version": _version("shap"),
            "redaction": "lmops-presidio" if redacted else None,
        }
        report = write_report(
            context.workdir / "shap_report.html",
            title=f"SHAP token attributions: {model.ref}",
            meta={"model": model.ref, "kind": model.kind, "digest": model.digest,
                  **{k: v for k, v in method.items() if v is not None}},
            sections=sections,
        )
        values_path = context.workdir / "shap_attributions.json"
        values_path.write_text(json.dumps(dump, ensure_ascii=False), encoding="utf-8")
        evidence = EvidenceRecord(
            kind=EXPLANATION_EVIDENCE.name,
            subject="model",
            metrics=metrics,
            details={"method": method, "prompts": summaries},
            artifacts={"report.html": report, "attributions.json": values_path},
        )
        return StageResult(
            evidence=[evidence],
            metrics={"prompts": float(len(attributions)), "seconds": seconds,
                     "seconds_per_prompt": metrics["seconds_per_prompt"]},
            params={"algorithm": params.algorithm, "max_evals": params.max_evals,
                    "max_new_tokens": params.max_new_tokens, "top_k": params.top_k,
                    "threads": params.threads},
        )


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)
