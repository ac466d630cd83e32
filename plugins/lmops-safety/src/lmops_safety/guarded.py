"""The ``guard-probe`` evaluator: the probes answered by a model behind a guard version.

Every probe file lmops-safety ships (and any ``probe_paths``) is sent through the guard
version under role ``"guard"`` (its checks come from the plugin that runs its kind,
through ``context.guard_pipeline``: lmops-serve's request filter, PII guard and output
checks, in-process) to the model version under role ``"model"``. The outputs are scored
as the ``safety`` evaluator scores them, so leakage and injection success are what a
client of the served model would see. The ``guard_probe`` evidence is about the guard
version, paired with the model version it was measured with; it adds the over-refusal
rate on benign probes (those of category ``benign``, when the probe set has them) and
the latency the guard added per request, timed after one untimed warm-up pass of the guard
(its first call loads what it loads lazily).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from lmops_core.contracts import EvidenceRecord, StageContext, StageResult
from lmops_core.runtimes import GuardedAnswer, GuardPipeline
from lmops_safety.evaluator import SafetyParams, load_probes, run_probes, write_outputs
from lmops_safety.evidence import GUARD_PROBE_EVIDENCE
from lmops_safety.generation import TextGenerator
from lmops_safety.probes import Probe
from lmops_safety.suite import AnsweringOperation, ProbeOutcome, failing_ids

BENIGN_CATEGORY = "benign"
"""Probes of this category are requests a guard should let through (over-refusal)."""


class GuardedGenerator:
    """A generator answering behind a guard pipeline; keeps each :class:`GuardedAnswer`."""

    def __init__(self, inner: TextGenerator, pipeline: GuardPipeline) -> None:
        self.inner = inner
        self.pipeline = pipeline
        self.answers: list[GuardedAnswer] = []

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        """The text a client of the guarded model would receive for ``prompt``."""
        answer = self.pipeline.answer(
            prompt, lambda text: self.inner.generate(text, max_new_tokens)
        )
        self.answers.append(answer)
        return answer.text

    def warm_up(self, probes: Sequence[Probe]) -> list[str]:
        """One untimed pass of the guard over the first probe of each category, so what
        loads lazily (recognisers, patterns) is not charged to the first timed request.

        The model is not called (the reply checked is the text it would have been sent)
        and nothing is kept in :attr:`answers`; returns the ids of the probes used.
        """
        first: dict[str, Probe] = {}
        for probe in probes:
            first.setdefault(probe.category, probe)
        for probe in first.values():
            self.pipeline.answer(probe.rendered(), lambda text: text)
        return [probe.id for probe in first.values()]


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def guard_metrics(
    outcomes: Sequence[ProbeOutcome], answers: Sequence[GuardedAnswer]
) -> dict[str, Any]:
    """What the guard itself did: its refusals and blocks, over-refusal on benign probes
    (absent when none were run, so a policy that reads it fails closed), the time it added."""
    stopped = [a.refused or a.blocked for a in answers]
    added = [a.guard_ms for a in answers]
    metrics: dict[str, Any] = {
        "guard_refusal_rate": sum(stopped) / len(stopped),
        "guard_blocks": sum(a.blocked for a in answers),
        "latency_added_ms_mean": statistics.fmean(added),
        "latency_added_ms_p95": _p95(added),
    }
    benign = [
        s for o, s in zip(outcomes, stopped, strict=True) if o.probe.category == BENIGN_CATEGORY
    ]
    metrics["benign_probes"] = len(benign)
    if benign:
        metrics["over_refusal_rate"] = sum(benign) / len(benign)
    return metrics


class GuardProbeEvaluator(AnsweringOperation[SafetyParams]):
    """The safety probes answered by a model version behind a guard version: leakage,
    injection success, over-refusal on benign probes and latency added, as ``guard_probe``
    evidence about the guard version, paired with the model version."""

    name = "guard-probe"
    input_roles = {"guard": "guard", "model": "model", "base": "model"}
    evidence_kinds = ("guard_probe",)

    def execute(self, context: StageContext, params: SafetyParams) -> StageResult:
        """Run every probe through the guard and the model; return ``guard_probe`` evidence."""
        probes, files = load_probes(params)
        pipeline = context.guard_pipeline("guard")  # a bad guard fails before the model loads
        generator = GuardedGenerator(self._load_generator(context), pipeline)
        warmed = generator.warm_up(probes)  # the first call would otherwise time the loading
        scorers = self.scorers_for(context, params.pii_entities)
        outcomes, seconds, metrics = run_probes(context, generator, probes, files, scorers, params)
        metrics.update(guard_metrics(outcomes, generator.answers))
        digest = metrics["probe_set_digest"]
        outputs_path = context.workdir / "guard_probe_outputs.jsonl"
        write_outputs(outputs_path, outcomes, scorers.pii.redact([o.output for o in outcomes]))
        guard, model = context.input("guard"), context.input("model")
        details = {
            "guard": {"ref": guard.ref, "digest": guard.digest, "kind": guard.kind},
            "model": {"ref": model.ref, "digest": model.digest},
            "failing": failing_ids(outcomes),
            "stopped_by_guard": [
                o.probe.id
                for o, a in zip(outcomes, generator.answers, strict=True)
                if a.refused or a.blocked
            ],
            "probe_set": {
                "digest": digest,
                "files": [
                    {"path": f.path, "sha256": f.sha256, "probes": len(f.probes)} for f in files
                ],
            },
            "max_new_tokens": params.max_new_tokens,
            "guard_warmed_up_with": warmed,
        }
        evidence = EvidenceRecord(
            GUARD_PROBE_EVIDENCE.name,
            "guard",
            metrics,
            details,
            {"outputs.jsonl": outputs_path},
            paired="model",
        )
        return StageResult(
            evidence=[evidence],
            metrics={"probes": float(len(outcomes)), "seconds": seconds},
            params={
                "max_new_tokens": params.max_new_tokens,
                "max_probes_per_group": params.max_probes_per_group,
                "probe_files": [f.path for f in files],
            },
        )
