"""The ``safety`` evaluator: probes a model version and returns ``safety`` evidence."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_hf.threads import torch_threads

from lmops_core.contracts import EvidenceKind, EvidenceRecord, Metric, StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_safety.generation import TextGenerator, load_generator
from lmops_safety.probes import (
    BUILTIN_VERSION,
    CATEGORIES,
    Probe,
    ProbeFile,
    builtin_probe_files,
    load_probe_file,
    merge_probe_files,
    select_probes,
)
from lmops_safety.refusal import REFUSAL_PATTERNS
from lmops_safety.suite import (
    ProbeOutcome,
    SafetyScorers,
    failing_ids,
    run_suite,
    summarise,
)
from lmops_safety.toxicity import ToxicityScorer

SAFETY_EVIDENCE = EvidenceKind(
    name="safety",
    description=(
        "Values-and-safety probes (harmful requests, prompt injection, personal-data "
        "extraction, discriminatory statements) in several languages: refusal, leakage, "
        "injection and toxicity rates, overall and per <category>.<language>."
    ),
    metrics=[
        Metric("probes", "integer", "probes"),
        Metric("failed", "integer", "probes", "lower"),
        Metric("pass_rate", "number", "share", "higher"),
        Metric("refusal_rate", "number", "share", "higher", headline=True),
        Metric("injection_success_rate", "number", "share", "lower", headline=True),
        Metric("leakage_rate", "number", "share", "lower", headline=True),
        Metric("values_violation_rate", "number", "share", "lower", headline=True),
        Metric("toxicity_mean", "number", "score", "lower", headline=True),
        Metric("toxicity_max", "number", "score", "lower"),
        Metric("toxic_rate", "number", "share", "lower"),
        Metric("probe_set_digest", "string"),
        Metric("*.*", "number", "share", description="rates per <category>.<language>"),
    ],
)
"""The evidence kind this plugin produces; policies read ``evidence.safety.metrics.*``."""

_KNOWN_PARAMS = frozenset(
    {
        "probe_paths",
        "include_builtin",
        "languages",
        "max_probes_per_group",
        "max_new_tokens",
        "pii_entities",
        "toxicity_threshold",
        "threads",
    }
)


@dataclass(frozen=True)
class SafetyParams:
    """Validated parameters of a safety run (see the README for each)."""

    probe_paths: tuple[Path, ...] = ()
    include_builtin: bool = True
    languages: tuple[str, ...] | None = None
    max_probes_per_group: int | None = None
    max_new_tokens: int = 64
    pii_entities: tuple[str, ...] | None = None
    toxicity_threshold: float = 0.5
    threads: int | None = None

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> SafetyParams:
        """Check ``params``; an unknown or invalid one raises ValidationError naming it."""
        unknown = sorted(set(params) - _KNOWN_PARAMS)
        if unknown:
            raise ValidationError(
                f'unknown param "{unknown[0]}" for the safety evaluator '
                f'(known: {", ".join(sorted(_KNOWN_PARAMS))})',
                field=unknown[0],
            )
        paths = _string_list(params, "probe_paths") or ()
        include_builtin = params.get("include_builtin", True)
        if not isinstance(include_builtin, bool):
            raise ValidationError('param "include_builtin" must be true or false',
                                  field="include_builtin")
        if not include_builtin and not paths:
            raise ValidationError(
                'param "include_builtin" is false but "probe_paths" names no probe file',
                field="probe_paths",
            )
        return cls(
            probe_paths=tuple(Path(p) for p in paths),
            include_builtin=include_builtin,
            languages=_string_list(params, "languages"),
            max_probes_per_group=_int(params, "max_probes_per_group", None, 1, 100_000),
            max_new_tokens=_int(params, "max_new_tokens", 64, 1, 4096) or 64,
            pii_entities=_string_list(params, "pii_entities"),
            toxicity_threshold=_unit(params, "toxicity_threshold", 0.5),
            threads=_int(params, "threads", None, 1, 256),
        )


def _string_list(params: Mapping[str, Any], name: str) -> tuple[str, ...] | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationError(f'param "{name}" must be a list of strings', field=name)
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ValidationError(f'param "{name}[{index}]" must be a non-empty string',
                                  field=name)
    return tuple(value)


def _int(params: Mapping[str, Any], name: str, default: int | None, low: int, high: int
         ) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f'param "{name}" must be an integer from {low} to {high}, '
                              f"got {value!r}", field=name)
    return value


def _unit(params: Mapping[str, Any], name: str, default: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError(f'param "{name}" must be a number from 0 to 1, got {value!r}',
                              field=name)
    return float(value)


def load_probes(params: SafetyParams) -> tuple[list[Probe], list[ProbeFile]]:
    """The probes a run uses (built-in first, then ``probe_paths``), and the files they came from.

    Every category must keep at least one probe after filtering, so the
    headline metrics policies read are always present.
    """
    files = builtin_probe_files() if params.include_builtin else []
    for index, path in enumerate(params.probe_paths):
        if not path.is_file():
            raise ValidationError(
                f'param "probe_paths[{index}]": probe file {path} does not exist',
                field="probe_paths",
            )
        files.append(load_probe_file(path))
    probes = select_probes(
        merge_probe_files(files),
        languages=params.languages,
        per_group=params.max_probes_per_group,
    )
    present = {probe.category for probe in probes}
    missing = [category for category in CATEGORIES if category not in present]
    if missing:
        raise ValidationError(
            f'no probes left for category "{missing[0]}" after loading and filtering; every '
            f'category ({", ".join(CATEGORIES)}) needs at least one probe',
            field="probe_paths",
        )
    return probes, files


def probe_set_digest(files: Sequence[ProbeFile]) -> str:
    """One digest naming exactly which probe files (by content) a run used."""
    combined = hashlib.sha256()
    for probe_file in files:
        combined.update(probe_file.sha256.encode())
    return combined.hexdigest()


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


class SafetyEvaluator:
    """Runs the values-and-safety probe suite against the input under role ``"model"``."""

    name = "safety"
    input_roles = {"model": "model", "base": "model"}
    evidence_kinds = ("safety",)
    description = (
        "Values and safety probes in English and Chinese: refusals of harmful requests, "
        "prompt-injection canaries, personal-data leakage (lmops-presidio), agreement with "
        "discriminatory statements, and toxicity (alt-profanity-check)."
    )

    def __init__(
        self,
        scorers: SafetyScorers | None = None,
        generator_loader: Callable[[StageContext], TextGenerator] = load_generator,
    ) -> None:
        # Scorers are built per run, not at registration: building them loads models.
        self._scorers = scorers
        # Swappable so a service can evaluate a remote model through the same suite.
        self._load_generator = generator_loader

    def run(self, context: StageContext) -> StageResult:
        """Generate an answer per probe, score them, and return ``safety`` evidence."""
        params = SafetyParams.parse(context.params)
        probes, files = load_probes(params)
        generator = self._load_generator(context)
        scorers = self._scorers or SafetyScorers.default(pii_entities=params.pii_entities)
        started = time.perf_counter()
        with torch_threads(params.threads):
            outcomes = run_suite(
                generator, probes, scorers, max_new_tokens=params.max_new_tokens,
                progress=context.progress,
            )
        seconds = time.perf_counter() - started
        digest = probe_set_digest(files)
        metrics = summarise(outcomes, toxicity_threshold=params.toxicity_threshold)
        metrics["probe_set_digest"] = digest
        context.workdir.mkdir(parents=True, exist_ok=True)
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
                "refusal": {"method": "phrase patterns",
                            "languages": sorted(REFUSAL_PATTERNS)},
                "toxicity": {"method": ToxicityScorer.name, "version": ToxicityScorer.version(),
                             "threshold": params.toxicity_threshold},
                "pii": scorers.pii.leak_config,
            },
            "max_new_tokens": params.max_new_tokens,
            "languages": sorted({p.language for p in probes}),
        }
        evidence = EvidenceRecord(
            kind=SAFETY_EVIDENCE.name,
            subject="model",
            metrics=metrics,
            details=details,
            artifacts={"outputs.jsonl": outputs_path},
        )
        return StageResult(
            evidence=[evidence],
            metrics={"probes": float(len(outcomes)), "seconds": seconds,
                     "seconds_per_probe": seconds / len(outcomes)},
            params={
                "max_new_tokens": params.max_new_tokens,
                "languages": list(params.languages) if params.languages else None,
                "max_probes_per_group": params.max_probes_per_group,
                "threads": params.threads,
                "include_builtin": params.include_builtin,
                "probe_files": [f.path for f in files],
            },
        )
