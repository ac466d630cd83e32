"""A governed store with a PII-bearing dataset, its redaction, trained models and approvals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmops_core.workspace import Workspace
from tests.conftest import make_settings, policy_dir, prod_policy, write_jsonl, ws_as

#: Raw personal data planted in the training set; no report may contain it.
EMAIL = "jane.roe.report@example.com"
CARD = "4111 1111 1111 1111"
PLUGIN = Path(__file__).with_name("report_trainer_plugin.py")
POLICY = prod_policy("report-test", evidence="{kind: eval}, {kind: safety}")


@dataclass
class Store:
    """The workspace and the refs the tests report on."""

    ws: Workspace
    dataset: str
    redacted: str
    production: str
    candidate: str
    request_id: str


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Dataset -> pii-redact -> two trained models; @1 promoted to production, @2 pending."""
    policies = policy_dir(tmp_path, POLICY, "report-test.yaml")
    settings = make_settings(
        tmp_path / "home", policies_dir=policies, plugins=["lmops_presidio.plugin", str(PLUGIN)]
    )
    ws = Workspace.open(settings, actor="engineer")
    sub, val, risk = (
        ws_as(ws, user, role)
        for user, role in (("sub", "submitter"), ("val", "validator"), ("risk", "risk_officer"))
    )
    eng = ws_as(ws, "engineer")  # authors the data and models with a credential
    rows = [
        {"prompt": f"Contact me at {EMAIL} please", "response": "Noted."},
        {"prompt": f"My card is {CARD}", "response": "I will not store card numbers."},
        {"prompt": "What is 2+2?", "response": "4"},
    ]
    source = write_jsonl(tmp_path / "raw.jsonl", rows)
    dataset = eng.register_dataset("support", source, shape="instruction").ref
    redact = eng.run_stage(
        "data_preparation", "pii-redact", inputs={"dataset": dataset}, params={"ner_model": None}
    )
    redacted = next(iter(redact.outputs.values()))
    refs = []
    for variant in (1, 2):
        out = eng.run_stage(
            "training",
            "report-test-train",
            inputs={"dataset": redacted},
            params={"variant": variant},
        )
        ref = out.outputs["model"]
        v = ws.get(ref)
        val.attach_evidence(ref, kind="eval", digest=v.digest, metrics={"acc": 0.6 + variant / 10})
        val.attach_evidence(
            ref, kind="safety", digest=v.digest, metrics={"refusal_rate": 0.9, "leakage_rate": 0.0}
        )
        refs.append(ref)
    first = sub.governance.request_promotion(refs[0], to="production")
    val.governance.decide(
        first.id, approve=True, role="validator", comment="eval and safety reviewed"
    )
    risk.governance.decide(
        first.id, approve=True, role="risk_officer", comment="risk accepted for launch"
    )
    second = sub.governance.request_promotion(refs[1], to="production")
    yield Store(
        ws=ws,
        dataset=dataset,
        redacted=redacted,
        production=refs[0],
        candidate=refs[1],
        request_id=second.id,
    )
    ws.close()
