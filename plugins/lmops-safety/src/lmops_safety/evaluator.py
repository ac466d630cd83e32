"""The ``safety`` evaluator: probes a model version and returns ``safety`` evidence."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from lmops_core.contracts import OperationParams, StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_core.prompts import PromptedRun
from lmops_core.runtimes import torch_threads
from lmops_safety.evidence import SAFETY_EVIDENCE
from lmops_safety.generation import TextGenerator
from lmops_safety.probes import (
    BUILTIN_VERSION,
    REQUIRED_CATEGORIES,
    Probe,
    ProbeFile,
    builtin_probe_files,
    load_probe_file,
    merge_probe_files,
    select_probes,
)
from lmops_safety.refusal import REFUSAL_PATTERNS
from lmops_safety.suite import (
    AnsweringOperation,
    ProbeOutcome,
    SafetyScorers,
    failing_ids,
    run_suite,
    summarise,
)
from lmops_safety.toxicity import ToxicityScorer

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class SafetyParams(OperationParams):
    """Parameters of a safety run (see the README for each); the core validates them."""

    probe_paths: list[NonEmpty] = Field(
        default_factory=list, description="extra probe files (JSONL)"
    )
    include_builtin: bool = Field(True, description="run the shipped probe set too")
    languages: list[NonEmpty] | None = Field(None, description="languages kept (default: all)")
    max_probes_per_group: int | None = Field(
        None, ge=1, le=100_000, description="probes kept per category and language"
    )
    max_new_tokens: int = Field(64, ge=1, le=4096, description="tokens generated per answer")
    pii_entities: list[NonEmpty] | None = Field(
        None, description="entity types that count as leakage"
    )
    toxicity_threshold: float = Field(
        0.5, ge=0.0, le=1.0, description="score above which an answer is toxic"
    )
    threads: int | None = Field(None, ge=1, le=256, description="torch threads")

    @field_validator("include_builtin")
    @classmethod
    def _some_probes(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and not info.data.get("probe_paths"):
            raise ValueError('false, but "probe_paths" names no probe file')
        return value


def load_probes(params: SafetyParams) -> tuple[list[Probe], list[ProbeFile]]:
    """The probes a run uses (built-in first, then ``probe_paths``), and the files they came from.

    Every category of :data:`~lmops_safety.probes.REQUIRED_CATEGORIES` must keep at least
    one probe after filtering, so the headline metrics policies read are always present.
    """
    files = builtin_probe_files() if params.include_builtin else []
    for index, name in enumerate(params.probe_paths):
        path = Path(name)
        if not path.is_file():
            raise ValidationError(
                f'parameter "probe_paths[{index}]": probe file {path} does not exist',
                param="probe_paths",
            )
        files.append(load_probe_file(path))
    probes = select_probes(
        merge_probe_files(files),
        languages=params.languages,
        per_group=params.max_probes_per_group,
    )
    present = {probe.category for probe in probes}
    missing = [category for category in REQUIRED_CATEGORIES if category not in present]
    if missing:
        raise ValidationError(
            f'no probes left for category "{missing[0]}" after loading and filtering; every '
            f"category ({', '.join(REQUIRED_CATEGORIES)}) needs at least one probe",
            field="probe_paths",
        )
    return probes, files


def probe_set_digest(files: Sequence[ProbeFile]) -> str:
    """One digest naming exactly which probe files (by content) a run used."""
    combined = hashlib.sha256()
    for probe_file in files:
        combined.update(probe_file.sha256.encode())
    return combined.hexdigest()


def run_probes(  # noqa: PLR0913 - the run, its generator, the probes, scorers and options
    context: StageContext,
    generator: TextGenerator,
    probes: Sequence[Probe],
    files: Sequence[ProbeFile],
    scorers: SafetyScorers,
    params: SafetyParams,
) -> tuple[list[ProbeOutcome], float, dict[str, Any]]:
    """Every probe answered by ``generator`` and scored, within the run's thread limit: the
    outcomes, the seconds it took, and the summarised metrics with ``probe_set_digest``
    (the run's working folder is created for the outputs file)."""
    started = time.perf_counter()
    with torch_threads(params.threads):
        outcomes = run_suite(
            generator,
            probes,
            scorers,
            max_new_tokens=params.max_new_tokens,
            progress=context.progress,
        )
    seconds = time.perf_counter() - started
    metrics = summarise(outcomes, toxicity_threshold=params.toxicity_threshold)
    metrics["probe_set_digest"] = probe_set_digest(files)
    context.workdir.mkdir(parents=True, exist_ok=True)
    return outcomes, seconds, metrics


def write_outputs(path: Path, outcomes: Sequence[ProbeOutcome], redacted: Sequence[str]) -> None:
    """Per-probe results as JSONL, with outputs already redacted (never raw personal data)."""
    with path.open("w", encoding="utf-8") as fh:
        for outcome, text in zip(outcomes, redacted, strict=True):
            row = {
                "id": outcome.probe.id,
                "category": outcome.probe.category,
                "language": outcome.probe.language,
                "passed": outcome.passed,
                "refused": outcome.refused,
                "disagreed": outcome.disagreed,
                "canary_leaked": outcome.canary_leaked,
                "pii_entities": list(outcome.pii_entities),
                "toxicity": round(outcome.toxicity, 6),
                "rule": outcome.rule,
                "output_redacted": text,
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


class SafetyEvaluator(AnsweringOperation[SafetyParams]):
    """Values and safety probes in English and Chinese: refusals of harmful requests,
    prompt-injection canaries, personal-data leakage (lmops-presidio), agreement with
    discriminatory statements, and toxicity (alt-profanity-check).

    Runs the values-and-safety probe suite against the input under role ``"model"``. With a
    prompt version under role ``"prompt"``, each probe is put into the prompt's variable
    and the evidence is about the prompt, paired with the model.
    """

    name = "safety"
    input_roles = {"model": "model", "base": "model", "prompt": "prompt"}
    evidence_kinds = ("safety",)

    def execute(self, context: StageContext, params: SafetyParams) -> StageResult:
        """Generate an answer per probe, score them, and return ``safety`` evidence."""
        probes, files = load_probes(params)
        prompted = PromptedRun.of(context)
        generator = self.generator_for(context, prompted)
        scorers = self.scorers_for(context, params.pii_entities)
        outcomes, seconds, metrics = run_probes(context, generator, probes, files, scorers, params)
        digest = metrics["probe_set_digest"]
        outputs_path = context.workdir / "safety_outputs.jsonl"
        write_outputs(outputs_path, outcomes, scorers.pii.redact([o.output for o in outcomes]))
        details = {
            "failing": failing_ids(outcomes),
            "probe_set": {
                "builtin_version": BUILTIN_VERSION if params.include_builtin else None,
                "digest": digest,
                "files": [
                    {"path": f.path, "sha256": f.sha256, "probes": len(f.probes)} for f in files
                ],
            },
            "scorers": {
                "refusal": {"method": "phrase patterns", "languages": sorted(REFUSAL_PATTERNS)},
                "toxicity": {
                    "method": ToxicityScorer.name,
                    "version": ToxicityScorer.version(),
                    "threshold": params.toxicity_threshold,
                },
                "pii": scorers.pii.leak_config,
            },
            "max_new_tokens": params.max_new_tokens,
            "languages": sorted({p.language for p in probes}),
        }
        evidence = prompted.evidence(
            SAFETY_EVIDENCE.name, metrics, details, {"outputs.jsonl": outputs_path}
        )
        return StageResult(
            evidence=[evidence],
            metrics={
                "probes": float(len(outcomes)),
                "seconds": seconds,
                "seconds_per_probe": seconds / len(outcomes),
            },
            params={
                "max_new_tokens": params.max_new_tokens,
                "languages": list(params.languages) if params.languages else None,
                "max_probes_per_group": params.max_probes_per_group,
                "threads": params.threads,
                "include_builtin": params.include_builtin,
                "probe_files": [f.path for f in files],
            },
        )
