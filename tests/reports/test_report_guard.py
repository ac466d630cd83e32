"""The validation report names the guard version each bundle pinned, with its evidence."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.reports import render_report
from lmops_core.testing import Governed
from tests.conftest import make_model_folder

POLICY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: report-guard
    rules:
      - name: model-prod
        applies_to: {asset: model, transition: production}
        approvals:
          - {role: validator, count: 1}
      - name: guard-prod
        applies_to: {asset: guard, transition: production}
        evidence:
          - {kind: guard_probe, max_age: 30d}
        approvals:
          - {role: validator, count: 1}
""")


@pytest.fixture
def gov(tmp_path: Path, db_url: str) -> Iterator[Governed]:
    governed = Governed.open(tmp_path / "home", policies={"p": POLICY}, database_url=db_url)
    yield governed
    governed.close()


def _approved(gov: Governed, ref: str) -> None:
    request = gov.as_user("eng", "submitter").governance.request_promotion(ref, to="production")
    val = gov.as_user("val", "validator")
    val.governance.decide(request.id, approve=True, role="validator", comment="ok")


def _section(markdown: str, title: str) -> str:
    return next(s for s in markdown.split("\n## ")[1:] if s.startswith(title))


def test_the_report_shows_the_pinned_guard_version_and_its_headline(
    gov: Governed, tmp_path: Path
) -> None:
    eng = gov.as_user("eng", "submitter")
    model = eng.register_model("chat", make_model_folder(tmp_path / "m")).ref
    assert "none recorded" in _section(render_report(eng, model).markdown, "Runtime guard")
    path = tmp_path / "guard.yaml"
    path.write_text("name: retail-guard\npii: {mode: redact}\n")
    guard = eng.register_guard("retail", path)
    gov.as_user("val", "validator").attach_evidence(
        guard.ref,
        kind="guard_probe",
        digest=guard.digest,
        metrics={"leakage_rate": 0.0, "injection_success_rate": 0.04, "over_refusal_rate": 0.1},
        paired=model,
    )
    _approved(gov, model)
    _approved(gov, guard.ref)
    keys = KeyStore.for_home(gov.ws.settings.home)
    info = create_bundle(
        gov.ws, model, tmp_path / "b", stage="production", keys=keys, guard=guard.ref
    )
    section = _section(render_report(eng, model).markdown, "Runtime guard")
    assert f"bundle {info.digest} for production pins {guard.ref}" in section
    assert f"configuration retail-guard, digest {guard.digest}; now in production" in section
    assert f"{guard.ref} guard_probe with {model}:" in section
    assert "injection_success_rate = 0.04" in section and "over_refusal_rate = 0.1" in section
