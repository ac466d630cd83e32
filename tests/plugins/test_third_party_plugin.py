"""A third-party plugin the core has never heard of: its results show up everywhere.

This test module is itself the plugin (a module of ``@hookimpl`` functions),
loaded through ``LMOPS_PLUGINS`` like any other: it offers an evaluator, declares
its evidence kind with headline metrics, and adds a section to the validation
report. Nothing in the core names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import Field

from lmops_core import hookimpl
from lmops_core.contracts import (
    EvidenceKind,
    EvidenceRecord,
    Metric,
    OperationParams,
    Register,
    Stage,
    StageContext,
    StageResult,
)
from lmops_core.evidence_summary import format_metrics, summarize_metrics
from lmops_core.pipelines import PipelineRunner, load_pipeline
from lmops_core.reports import ReportFacts, ReportSection, render_report
from lmops_core.reports.blocks import Text
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings

KIND = "acme_bench"


class AcmeParams(OperationParams):
    """How hard the bench pushes."""

    rounds: int = Field(3, ge=1, description="rounds of the bench")


class AcmeBench:
    """A bench that scores a model without loading it (its digest decides the score)."""

    name = "acme-bench"
    description = "Score a model on the ACME bench."
    params_model = AcmeParams
    input_roles = {"model": "model"}
    evidence_kinds = (KIND,)

    def run(self, context: StageContext) -> StageResult:
        rounds = context.options.rounds
        assert context.params["rounds"] == rounds
        return StageResult(
            evidence=[
                EvidenceRecord(
                    kind=KIND,
                    subject="model",
                    metrics={
                        "acme_score": 0.875,
                        "acme_latency_ms": 12.5,
                        "acme_rounds": rounds,
                        "acme_internal_counter": 4242,
                    },
                )
            ]
        )


@hookimpl
def register_evaluators(register: Register) -> None:
    """Offer the ACME bench."""
    register(AcmeBench())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare what the bench records; two headline metrics."""
    register(
        EvidenceKind(
            name=KIND,
            description="ACME bench results.",
            metrics=[
                Metric("acme_score", "number", "share", "higher", headline=True),
                Metric("acme_latency_ms", "number", "ms", "lower", headline=True),
                Metric("acme_rounds", "integer", "rounds"),
                Metric("acme_internal_counter", "integer"),
            ],
        )
    )


@hookimpl
def lmops_report_sections(facts: ReportFacts) -> list[ReportSection]:
    """One line per bench result on the version."""
    e = facts.latest(facts.version.ref, KIND)
    blocks = (Text(f"ACME verdict: score {e.metrics['acme_score']}"),) if e else ()
    return [ReportSection(key="acme", title="ACME bench", blocks=blocks, after="evaluation")]


PIPELINE = """
apiVersion: lmops/v1
kind: Pipeline
name: acme
steps:
  - id: bench
    run:
      stage: evaluation
      operation: acme-bench
      inputs: {model: "MODEL"}
      params: {rounds: 5}
"""


@pytest.fixture
def acme_ws(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace with this module loaded as a plugin (and no entry points)."""
    settings = make_settings(tmp_path / "home", plugins=[__name__])
    with Workspace.open(settings) as ws:
        yield ws


def test_plugin_loads_through_lmops_plugins(acme_ws: Workspace) -> None:
    assert __name__ in {p.name for p in acme_ws.plugins.plugins}
    spec = acme_ws.plugins.operation(Stage.EVALUATION, "acme-bench").spec
    assert spec is not None and spec.evidence_kinds == (KIND,)
    assert acme_ws.plugins.evidence_kind(KIND).headline == ("acme_score", "acme_latency_ms")


def test_headline_metrics_appear_in_the_pipeline_summary(
    acme_ws: Workspace, tmp_path: Path
) -> None:
    model = acme_ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    path = tmp_path / "acme.yaml"
    path.write_text(PIPELINE.replace("MODEL", model))
    results = PipelineRunner(acme_ws, load_pipeline(path), base_dir=tmp_path).run()
    summary = results["bench"].summary
    assert f"{KIND} on {model}: acme_score=0.875, acme_latency_ms=12.5" in summary
    assert "acme_internal_counter" not in summary and "acme_rounds" not in summary


def test_headline_metrics_and_section_appear_in_the_validation_report(
    acme_ws: Workspace, tmp_path: Path
) -> None:
    model = acme_ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    acme_ws.run_stage("evaluation", "acme-bench", inputs={"model": model})
    md = render_report(acme_ws, model).markdown
    summary = md.split("## Evidence summary", 1)[1].split("\n## ", 1)[0]
    assert (
        "acme_score = 0.875 share (higher is better); acme_latency_ms = 12.5 ms "
        "(lower is better)" in summary
    )
    assert "acme_internal_counter" not in summary
    titles = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert titles.index("ACME bench") == titles.index("Evaluation and safety") + 1
    assert "ACME verdict: score 0.875" in md


def test_summarize_metrics_uses_the_declaration(acme_ws: Workspace) -> None:
    kinds = acme_ws.plugins.declared_kinds()
    metrics = {"acme_internal_counter": 1, "acme_latency_ms": 3.25, "acme_score": 0.5}
    assert format_metrics(KIND, metrics, kinds=kinds) == "acme_score=0.5, acme_latency_ms=3.25"
    assert summarize_metrics(KIND, metrics, kinds=kinds) == {
        "acme_score": 0.5,
        "acme_latency_ms": 3.25,
    }
    # undeclared kinds fall back to their first numeric metrics
    assert format_metrics("other", {"a": 1, "b": "x", "c": 2.0}) == "a=1, c=2"
