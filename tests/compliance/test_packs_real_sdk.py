"""SR 11-7 and the EU AI Act judged on versions built through the real SDK and plugins.

The store is the one ``examples/compliance_reports.py`` builds (so the example is run
here too): lmops-hf fine-tunes two adapters of a tiny model, one on data lmops-presidio
redacted and one on raw data; lmops-lm-eval, lmops-safety, lmops-shap and lmops-evidently
measure the passing one for a validator; the failing one is evaluated and "validated" by
its own author. The TC260-003 pack is evidenced by lmops-safety's ``tc260`` evaluator: the
passing version behind the keyword filter on generated banks of the standard's sizes, the
failing one on the shipped sample banks with its own unscanned training set. Built once for
the module (about 40 s of CPU on a 2-core machine).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lmops_core.compliance import CompliancePack, load_pack, render_pack_report

REPO = Path(__file__).resolve().parents[2]
PACKS = REPO / "policies" / "packs"


def _example() -> ModuleType:
    path = REPO / "examples" / "compliance_reports.py"
    spec = importlib.util.spec_from_file_location("compliance_reports_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The example's store: a passing and a failing adapter with their evidence."""
    built = EXAMPLE.build(tmp_path_factory.mktemp("packs-real"))
    yield built
    built.store.close()


def _pack(name: str) -> CompliancePack:
    return load_pack(PACKS / f"{name}.yaml")


def _statuses(scenario: Any, pack: str, ref: str) -> dict[str, str]:
    report = render_pack_report(scenario.store.ws, _pack(pack), ref)
    return {v.clause.id: v.status for v in report.verdicts}


def test_sr_11_7_passing_version_meets_every_clause_with_its_evidence(scenario: Any) -> None:
    report = render_pack_report(scenario.store.ws, _pack("sr-11-7"), scenario.passing)
    assert [v.clause.id for v in report.verdicts] == [
        "data-quality",
        "conceptual-soundness",
        "outcomes-analysis",
        "ongoing-monitoring",
        "independent-validation",
        "effective-challenge",
        "documentation",
    ]
    assert {v.status for v in report.verdicts} == {"met"}
    md = report.markdown
    assert "clauses met 7, not met 0, not evidenced 0" in md
    # Links to what shows it: the validator's report file, lm-eval's samples, the datasets.
    assert "validation-report.md=sha256:" in md and "samples.jsonl=sha256:" in md
    assert f"{_redacted(scenario)} pii sha256:" in md
    assert "| production | val | validator | approve | evidence reviewed |" in md
    assert "| production | risk | risk_officer | approve | risk accepted |" in md


def _redacted(scenario: Any) -> str:
    return _trained_on(scenario, scenario.passing)


def test_sr_11_7_failing_version_is_not_met_where_it_fails_and_not_evidenced_where_silent(
    scenario: Any,
) -> None:
    assert _statuses(scenario, "sr-11-7", scenario.failing) == {
        "data-quality": "not-met",  # trained on data never scanned for personal data
        "conceptual-soundness": "not-evidenced",  # nothing explained
        "outcomes-analysis": "not-met",  # lm-eval: the strict suite's bar was missed
        "ongoing-monitoring": "not-evidenced",  # never monitored
        "independent-validation": "not-met",  # the author evaluated and "validated" it
        "effective-challenge": "not-evidenced",  # nobody signed
        "documentation": "not-met",
    }
    md = render_pack_report(scenario.store.ws, _pack("sr-11-7"), scenario.failing).markdown
    assert "| development-data | scanned | fail |" in md
    assert "training_data.pii_scanned = 0; training_data.datasets = 1" in md
    assert "| benchmarked-outcomes | suite-passed | fail |" in md
    assert "eval.suite_passed = false" in md
    assert "(the validation report was attached by the version's author)" in md
    assert "sign-offs missing: risk_officer ×1, validator ×1" in md


def test_eu_ai_act_passing_version_meets_articles_9_to_15(scenario: Any) -> None:
    statuses = _statuses(scenario, "eu-ai-act", scenario.passing)
    assert list(statuses) == [f"art-{n}" for n in range(9, 16)]
    assert set(statuses.values()) == {"met"}


def test_eu_ai_act_failing_version_fails_what_it_shows_and_lacks_the_rest(scenario: Any) -> None:
    assert _statuses(scenario, "eu-ai-act", scenario.failing) == {
        "art-9": "not-evidenced",  # no safety probes, no risk officer
        "art-10": "not-met",
        "art-11": "not-met",
        "art-12": "met",  # the audit log verifies and records the version
        "art-13": "not-met",
        "art-14": "not-met",  # its guard lets personal data through
        "art-15": "not-met",
    }
    md = render_pack_report(scenario.store.ws, _pack("eu-ai-act"), scenario.failing).markdown
    assert "| guarded-serving | pii-guard-on | fail |" in md
    assert "guard-off.yaml=sha256:" in md
    assert "audit_log.verified = true" in md


CN_CLAUSES = ["corpus", "content", "must-refuse", "must-not-refuse", "keywords"]


def test_tc260_passing_service_meets_every_clause_through_the_tc260_evaluator(
    scenario: Any,
) -> None:
    report = render_pack_report(scenario.store.ws, _pack("cn-tc260-003"), scenario.passing)
    assert [v.clause.id for v in report.verdicts] == CN_CLAUSES
    assert {v.status for v in report.verdicts} == {"met"}
    ws = scenario.store.ws
    content = ws.evidence(scenario.passing, kind="content_sample")[0]
    assert (content.metrics["bank_size"], content.metrics["sample_size"]) == (2000, 1000)
    assert content.metrics["acceptable_rate"] >= 0.9 and content.metrics["filtered"] > 0
    assert content.details["seed"] == EXAMPLE.TC260_SEED
    assert content.details["banks"]["sample"] is False  # generated to size, and marked so
    refusal = ws.evidence(scenario.passing, kind="refusal_sample")[0].metrics
    assert (refusal["must_refuse_sampled"], refusal["must_not_refuse_sampled"]) == (300, 300)
    assert refusal["must_refuse_rate"] >= 0.95 and refusal["must_not_refuse_rate"] <= 0.05
    assert ws.evidence(scenario.passing, kind="corpus_sample")[0].metrics["sample_size"] == 4000
    assert ws.evidence(scenario.passing, kind="keyword_library")[0].metrics["entries"] == 10_000
    assert "content_sample.jsonl=sha256:" in report.markdown


def test_tc260_failing_version_misses_every_clause_and_its_rates_where_measured(
    scenario: Any,
) -> None:
    # The shipped sample banks are far below the standard's sizes, so every size check
    # fails; the rates below are what the model and its data did.
    assert _statuses(scenario, "cn-tc260-003", scenario.failing) == dict.fromkeys(
        CN_CLAUSES, "not-met"
    )
    ws = scenario.store.ws
    content = ws.evidence(scenario.failing, kind="content_sample")[0]
    assert content.details["banks"]["sample"] is True and content.metrics["filtered"] == 0
    assert (
        ws.evidence(scenario.failing, kind="refusal_sample")[0].metrics["must_refuse_rate"] < 0.95
    )
    corpus = ws.evidence(scenario.failing, kind="corpus_sample")[0]
    assert corpus.details["corpus"]["ref"] == _trained_on(scenario, scenario.failing)
    # Four records in twelve hold personal data (three of the example's, the planted one).
    assert sorted(corpus.details["unacceptable_records"]) == [8, 9, 10, 11]
    assert corpus.metrics["acceptable_rate"] == pytest.approx(8 / 12)


def _trained_on(scenario: Any, ref: str) -> str:
    [edge] = [e for e in scenario.store.ws.lineage(ref, depth=1) if e.parent.startswith("dataset:")]
    return str(edge.parent)


def test_reports_are_the_same_run_after_run(scenario: Any) -> None:
    for pack in ("sr-11-7", "eu-ai-act", "cn-tc260-003"):
        for ref in (scenario.passing, scenario.failing):
            first, second = (
                render_pack_report(scenario.store.ws, _pack(pack), ref) for _ in range(2)
            )
            assert first.digest == second.digest, (pack, ref)
            assert (first.markdown, first.html) == (second.markdown, second.html)
            assert first.digest in first.html


def test_the_example_writes_both_reports_of_every_shipped_pack(
    scenario: Any, tmp_path: Path
) -> None:
    counts = EXAMPLE.write_reports(scenario, tmp_path)
    assert sorted(counts) == [
        f"{pack}-{label}"
        for pack in ("cn-tc260-003", "eu-ai-act", "sr-11-7")
        for label in ("failing", "passing")
    ]
    assert counts["sr-11-7-passing"] == {"met": 7}
    assert counts["eu-ai-act-failing"] == {"met": 1, "not-met": 5, "not-evidenced": 1}
    assert counts["cn-tc260-003-passing"] == {"met": 5}
    assert counts["cn-tc260-003-failing"] == {"not-met": 5}
    for label, summary in (
        ("passing", "符合 5 条，不符合 0 条"),
        ("failing", "符合 0 条，不符合 5 条"),
    ):
        cn = (tmp_path / f"cn-tc260-003-{label}.md").read_text(encoding="utf-8")
        assert f"{summary}，缺少证据 0 条" in cn
    assert (
        (tmp_path / "sr-11-7-failing.html")
        .read_text(encoding="utf-8")
        .startswith("<!DOCTYPE html>")
    )
