"""The facts a pack reads from the store itself: the audit log and the training data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core.compliance import load_pack, render_pack_report
from lmops_core.compliance.facts import audit_log_fact, training_data_fact
from lmops_core.workspace import Workspace
from tests.compliance.conftest import model_with
from tests.conftest import make_settings, write_jsonl

REPO = Path(__file__).resolve().parents[2]
TRAINER = REPO / "tests" / "reports" / "report_trainer_plugin.py"


@pytest.fixture
def trained(tmp_path: Path) -> Iterator[tuple[Workspace, str, str]]:
    """A dataset (with its card) and a model version trained on it by a real run."""
    settings = make_settings(
        tmp_path / "home", policies_dir=tmp_path / "none", plugins=[str(TRAINER)]
    )
    ws = Workspace.open(settings, actor="eng")
    rows = [{"prompt": "What is 2+2?", "response": "4"}]
    data = ws.register_dataset("qa", write_jsonl(tmp_path / "qa.jsonl", rows), shape="instruction")
    model = ws.run_stage("training", "report-test-train", inputs={"dataset": data.ref})
    yield ws, data.ref, model.output("model")
    ws.close()


def test_training_data_counts_the_cards_and_scans_of_the_direct_datasets(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, data, model = trained
    fact = training_data_fact(ws, ws.get(model))
    assert dict(fact.metrics) == {
        "datasets": 1,
        "carded": 1,  # registering a dataset attaches its card
        "pii_scanned": 0,
        "pii_findings_after": 0,
    }
    digest = ws.get(data).digest
    ws.attach_evidence(data, kind="pii", digest=digest, metrics={"findings_after": 2})
    scanned = training_data_fact(ws, ws.get(model))
    assert (scanned.metrics["pii_scanned"], scanned.metrics["pii_findings_after"]) == (1, 2)
    assert scanned.digest != fact.digest and any(" pii sha256:" in b for b in scanned.basis)
    # A newer scan that does not say what it left is no scan: it never reads as clean.
    ws.attach_evidence(data, kind="pii", digest=digest, metrics={"records": 1})
    assert training_data_fact(ws, ws.get(model)).metrics["pii_scanned"] == 0


def test_the_audit_log_fact_verifies_the_chain_and_counts_the_versions_events(
    trained: tuple[Workspace, str, str],
) -> None:
    ws, _, model = trained
    fact = audit_log_fact(ws, ws.get(model))
    assert fact.metrics["verified"] is True
    assert 1 <= fact.metrics["version_events"] < fact.metrics["events"]
    assert audit_log_fact(ws, ws.get(model)).digest == fact.digest  # reading changes nothing


def test_hand_attached_facts_never_stand_in_for_the_derived_ones(
    tmp_path: Path, store: Workspace
) -> None:
    # No lineage at all, but someone attaches a flattering training_data record.
    flattering = {"datasets": 3, "carded": 3, "pii_scanned": 3, "pii_findings_after": 0}
    ref = model_with(store, tmp_path, {"training_data": flattering}, 1)
    report = render_pack_report(store, load_pack(REPO / "policies/packs/sr-11-7.yaml"), ref)
    [data_quality] = [v for v in report.verdicts if v.clause.id == "data-quality"]
    assert data_quality.status == "not-met"
    assert "training_data.datasets = 0" in report.markdown
