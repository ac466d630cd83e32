"""The suite tells a model that always refuses from one that always complies.

The two generators below are test doubles of an *external model* (the thing
being evaluated), not of any lmops component: scorers, presidio, toxicity and
the evaluator all run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lmops_safety.evaluator import SafetyEvaluator
from lmops_safety.generation import TextGenerator
from lmops_safety.probes import builtin_probe_files, merge_probe_files, select_probes
from lmops_safety.suite import SafetyScorers, run_suite, summarise

from lmops_core.contracts import NullProgress, Stage, StageContext
from lmops_core.testing import model_input

LEAKED_EMAIL = "jane.roe@example.com"
LEAKED_PHONE = "+1 212-555-0187"


class AlwaysRefuses:
    """A model that refuses everything, in the prompt's language."""

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        if any("\u4e00" <= ch <= "\u9fff" for ch in prompt):
            return "抱歉，我不能帮助你做这件事。"
        return "I'm sorry, but I can't help with that."


class AlwaysComplies:
    """A model that agrees, repeats its whole prompt (system text too) and adds contact data."""

    def generate(self, prompt: str, max_new_tokens: int) -> str:
        return (
            f"Sure, I agree, happy to help! {prompt} You can reach her at {LEAKED_EMAIL} "
            f"or {LEAKED_PHONE}. Damn, you are a stupid idiot for asking."
        )


@pytest.fixture(scope="module")
def scorers() -> SafetyScorers:
    return SafetyScorers.default()


@pytest.fixture(scope="module")
def probes() -> list:
    return select_probes(merge_probe_files(builtin_probe_files()), languages=None, per_group=4)


def _metrics(generator: TextGenerator, probes: list, scorers: SafetyScorers) -> dict:
    return summarise(run_suite(generator, probes, scorers, max_new_tokens=16))


def test_refusing_and_complying_models_are_told_apart(probes: list, scorers: SafetyScorers) -> None:
    safe = _metrics(AlwaysRefuses(), probes, scorers)
    unsafe = _metrics(AlwaysComplies(), probes, scorers)
    assert safe["refusal_rate"] == 1.0 and unsafe["refusal_rate"] == 0.0
    assert safe["injection_success_rate"] == 0.0 and unsafe["injection_success_rate"] == 1.0
    assert safe["leakage_rate"] == 0.0 and unsafe["leakage_rate"] == 1.0
    assert safe["values_violation_rate"] == 0.0 and unsafe["values_violation_rate"] == 1.0
    # Refusing everything costs every benign question; complying answers them all.
    assert safe["over_refusal_rate"] == 1.0 and unsafe["over_refusal_rate"] == 0.0
    benign = sum(p.category == "benign" for p in probes)
    assert benign == 8 and safe["failed"] == benign
    assert unsafe["failed"] == unsafe["probes"] - benign == len(probes) - benign
    assert unsafe["toxicity_mean"] > 0.5 > safe["toxicity_max"]
    for language in ("en", "zh"):
        assert safe[f"harmful.{language}.refusal_rate"] == 1.0
        assert unsafe[f"harmful.{language}.refusal_rate"] == 0.0
        assert unsafe[f"pii_extraction.{language}.leakage_rate"] == 1.0
        assert unsafe[f"injection.{language}.injection_success_rate"] == 1.0


def test_a_spaced_out_canary_still_counts_as_leaked(probes: list, scorers: SafetyScorers) -> None:
    class SpellsTheCanary:
        def generate(self, prompt: str, max_new_tokens: int) -> str:
            canary = next(p.canary for p in probes if p.rendered() == prompt)
            return "The code is " + " ".join(canary.lower()) if canary else "No."

    injection = [p for p in probes if p.category == "injection"]
    outcomes = run_suite(SpellsTheCanary(), injection, scorers)
    assert all(o.canary_leaked for o in outcomes)


def _context(tmp_path: Path, params: dict) -> StageContext:
    folder = tmp_path / "external-model"
    folder.mkdir(exist_ok=True)
    return StageContext(
        stage=Stage.EVALUATION,
        operation="safety",
        inputs={"model": model_input(folder, ref="acme/chat@v1")},
        params=params,
        workdir=tmp_path / "work",
        actor="tester",
        run_id="run-1",
        seed=0,
        progress=NullProgress(),
    )


def test_evaluator_evidence_lists_failing_ids_and_never_raw_pii(
    tmp_path: Path, scorers: SafetyScorers
) -> None:
    evaluator = SafetyEvaluator(scorers=scorers, generator_loader=lambda ctx: AlwaysComplies())
    result = evaluator.run(_context(tmp_path, {"max_probes_per_group": 2}))
    [evidence] = result.evidence
    assert evidence.kind == "safety" and evidence.subject == "model"
    # Every probe fails but the 4 benign ones, which a complying model answers.
    assert evidence.metrics["probes"] == 20 and evidence.metrics["failed"] == 16
    assert evidence.details["failing"]["harmful"] == [
        "harmful-en-001",
        "harmful-en-002",
        "harmful-zh-001",
        "harmful-zh-002",
    ]
    everything = json.dumps(
        {"m": dict(evidence.metrics), "d": dict(evidence.details)}, ensure_ascii=False
    )
    outputs = evidence.artifacts["outputs.jsonl"]
    assert outputs.parent == tmp_path / "work"
    text = outputs.read_text(encoding="utf-8")
    for raw in (LEAKED_EMAIL, LEAKED_PHONE):
        assert raw not in everything and raw not in text
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 20
    assert "<EMAIL_ADDRESS>" in rows[0]["output_redacted"]
    leaks = [r for r in rows if r["category"] == "pii_extraction"]
    assert all("EMAIL_ADDRESS" in r["pii_entities"] for r in leaks)


def test_evaluator_on_a_refusing_model_fails_only_the_benign_questions(
    tmp_path: Path, scorers: SafetyScorers
) -> None:
    evaluator = SafetyEvaluator(scorers=scorers, generator_loader=lambda ctx: AlwaysRefuses())
    result = evaluator.run(_context(tmp_path, {"languages": ["zh"], "max_probes_per_group": 3}))
    metrics = result.evidence[0].metrics
    assert metrics["probes"] == 15 and metrics["pass_rate"] == 12 / 15
    assert metrics["harmful.zh.refusal_rate"] == 1.0
    assert "harmful.en.refusal_rate" not in metrics
    # Only over-refusal fails: a model that refuses everything refuses benign questions too.
    assert metrics["benign.zh.over_refusal_rate"] == 1.0
    assert result.evidence[0].details["failing"] == {
        "benign": ["benign-zh-001", "benign-zh-002", "benign-zh-003"],
        "harmful": [],
        "injection": [],
        "pii_extraction": [],
        "values": [],
    }
    assert len(metrics["probe_set_digest"]) == 64
