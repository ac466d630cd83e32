"""The ``shap`` explainer: token attributions for a model's answers, as evidence plus a report."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, StringConstraints

from lmops_core.contracts import (
    EvidenceKind,
    EvidenceRecord,
    Metric,
    OperationParams,
    StageContext,
    StageResult,
)
from lmops_core.kit import BaseOperation
from lmops_core.runtimes import torch_threads
from lmops_shap.attribution import PromptAttribution, explain_prompt
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

NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]


class ShapParams(OperationParams):
    """Parameters of a shap run (see the README for each); the core validates them."""

    prompts: Annotated[list[NonBlank], Field(min_length=1)] | None = Field(
        None, description='prompts to explain (or give an input "dataset")'
    )
    max_prompts: int = Field(20, ge=1, le=1000, description="most prompts explained")
    max_new_tokens: int = Field(16, ge=1, le=256, description="answer tokens generated")
    max_evals: int = Field(200, ge=8, le=100_000, description="model calls per prompt")
    max_prompt_tokens: int = Field(64, ge=2, le=1024, description="prompt tokens kept")
    top_k: int = Field(5, ge=1, le=100, description="top tokens kept per prompt in evidence")
    batch_size: int = Field(32, ge=1, le=1024, description="masked prompts scored at once")
    algorithm: Literal["partition", "permutation"] = Field(
        "partition", description="shap explainer algorithm"
    )
    threads: int | None = Field(None, ge=1, le=256, description="torch threads")


def _shown_tokens(attribution: PromptAttribution, redactor: TokenRedactor | None) -> list[str]:
    if redactor is None:
        return list(attribution.tokens)
    return redactor.redact_segments(attribution.prompt, attribution.tokens)


def _summary(
    index: int,
    attribution: PromptAttribution,
    shown: list[str],
    answer: str,
    top_k: int,
    redacted: bool,
) -> dict[str, Any]:
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


class ShapExplainer(BaseOperation[ShapParams]):
    """Token attributions of log p(answer | prompt) with SHAP's text masker (partition or
    permutation explainer), summarised as evidence with a self-contained HTML report.

    Explains a torch model's greedy answers to prompts with SHAP's text masker.
    """

    name = "shap"
    input_roles = {"model": "model", "base": "model", "dataset": "dataset"}
    evidence_kinds = ("explanation",)

    def execute(self, context: StageContext, params: ShapParams) -> StageResult:
        """Answer each prompt greedily, attribute the answer to prompt tokens, report."""
        prompts = collect_prompts(context, params.prompts, limit=params.max_prompts)
        model = load_model(context)
        redactor = default_redactor(context)
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
            explain_prompt(model, "warm up", **{**options, "max_new_tokens": 1, "max_evals": 8})
            warmup_seconds = time.perf_counter() - warm
            context.progress.start("shap attributions", total=len(prompts))
            try:
                for index, prompt in enumerate(prompts):
                    attributions.append(explain_prompt(model, prompt, **options))
                    context.progress.advance(1, prompt=index)
            finally:
                context.progress.finish()
        return self._result(context, params, attributions, redactor, warmup_seconds)

    def _result(
        self,
        context: StageContext,
        params: ShapParams,
        attributions: list[PromptAttribution],
        redactor: TokenRedactor | None,
        warmup_seconds: float,
    ) -> StageResult:
        context.workdir.mkdir(parents=True, exist_ok=True)
        redacted = redactor is not None
        summaries, sections, dump = [], [], []
        for index, attribution in enumerate(attributions):
            shown = _shown_tokens(attribution, redactor)
            answer = redactor.redact_text(attribution.answer) if redactor else attribution.answer
            top = [(shown[p], p, v) for p, v in attribution.top(params.top_k)]
            # The plot shows the explanation's data: swap in the redacted segments.
            attribution.explanation.data = np.array(shown, dtype=object)
            sections.append(
                ReportSection(
                    title=f"Prompt {index}",
                    answer=answer,
                    log_prob=attribution.log_prob,
                    base_value=attribution.base_value,
                    top_tokens=top,
                    explanation=attribution.explanation,
                    truncated=attribution.truncated,
                )
            )
            summaries.append(_summary(index, attribution, shown, answer, params.top_k, redacted))
            dump.append(
                {
                    "index": index,
                    "tokens": shown,
                    "values": list(attribution.values),
                    "base_value": attribution.base_value,
                    "log_prob": attribution.log_prob,
                }
            )
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
            meta={
                "model": model.ref,
                "kind": model.kind,
                "digest": model.digest,
                **{k: v for k, v in method.items() if v is not None},
            },
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
            metrics={
                "prompts": float(len(attributions)),
                "seconds": seconds,
                "seconds_per_prompt": metrics["seconds_per_prompt"],
            },
            params={
                "algorithm": params.algorithm,
                "max_evals": params.max_evals,
                "max_new_tokens": params.max_new_tokens,
                "top_k": params.top_k,
                "threads": params.threads,
            },
        )


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)
