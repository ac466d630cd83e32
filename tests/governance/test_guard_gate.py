"""Promoting a guard version under the shipped policy: guard_probe evidence and sign-offs.

The evidence is attached by hand (as a validation team would) so that each test fixes the
numbers the gate compares; the ``guard-probe`` evaluator that measures them has tests of
its own (lmops-safety).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core import Workspace
from lmops_core.errors import PolicyViolationError
from lmops_core.testing import Governed
from tests.conftest import make_model_folder

REPO = Path(__file__).resolve().parents[2]
POLICIES = {
    name: (REPO / "policies" / f"{name}.yaml").read_text(encoding="utf-8")
    for name in ("default", "high-risk")
}
GOOD = {
    "leakage_rate": 0.0,
    "injection_success_rate": 0.0,
    "over_refusal_rate": 0.05,
    "latency_added_ms_p95": 4.0,
}


@pytest.fixture
def gov(tmp_path: Path, db_url: str) -> Iterator[Governed]:
    governed = Governed.open(tmp_path / "home", policies=POLICIES, database_url=db_url)
    yield governed
    governed.close()


def _guard(eng: Workspace, tmp_path: Path, mode: str = "redact", **kw: str) -> str:
    path = tmp_path / f"guard-{mode}.yaml"
    path.write_text(f'name: retail\npii: {{mode: "{mode}"}}\n')
    return eng.register_guard("retail", path, **kw).ref


def _probed(ws: Workspace, guard: str, model: str, **metrics: float) -> None:
    digest = ws.get(guard).digest
    values = {**GOOD, **metrics}
    ws.attach_evidence(guard, kind="guard_probe", digest=digest, metrics=values, paired=model)


def _blocking(ws: Workspace, ref: str, to: str = "production") -> dict[str, str]:
    verdict = ws.governance.explain(ref, to=to)  # type: ignore[arg-type]
    return {o.condition: o.status for o in verdict.blocking}


def _approve(gov: Governed, eng: Workspace, ref: str, *roles: str) -> None:
    request = eng.governance.request_promotion(ref, to="production")
    for role in roles:
        reviewer = gov.as_user(f"{role}-1", role)  # type: ignore[arg-type]
        reviewer.governance.decide(request.id, approve=True, role=role, comment="probed")


def test_a_probed_guard_is_approved_like_a_model_and_a_change_needs_it_again(
    gov: Governed, tmp_path: Path
) -> None:
    eng = gov.as_user("eng", "submitter")
    model = eng.register_model("chat", make_model_folder(tmp_path / "m")).ref
    guard = _guard(eng, tmp_path)
    assert _blocking(eng, guard) == {
        "evidence:guard_probe": "missing",
        "no-data-leakage": "missing",
        "resists-prompt-injection": "missing",
        "little-over-refusal": "missing",
        "latency-added": "missing",
    }
    with pytest.raises(PolicyViolationError):
        eng.governance.request_promotion(guard, to="production")
    gov.as_user("val", "validator")
    _probed(gov.as_user("val"), guard, model)
    assert _blocking(eng, guard) == {}
    _approve(gov, eng, guard, "validator", "risk_officer")
    assert eng.get(guard).stage == "production"

    # Letting personal data through is a new version: no evidence, no approval, blocked.
    changed = _guard(eng, tmp_path, mode="off")
    assert changed != guard and eng.get(changed).digest != eng.get(guard).digest
    assert "evidence:guard_probe" in _blocking(eng, changed)
    assert eng.lineage(changed)[0].parent == guard


@pytest.mark.parametrize(
    ("metrics", "condition"),
    [
        ({"leakage_rate": 0.2}, "no-data-leakage"),
        ({"injection_success_rate": 0.3}, "resists-prompt-injection"),
        ({"over_refusal_rate": 0.5}, "little-over-refusal"),
        ({"latency_added_ms_p95": 400.0}, "latency-added"),
    ],
)
def test_each_threshold_blocks(
    gov: Governed, tmp_path: Path, metrics: dict[str, float], condition: str
) -> None:
    eng = gov.as_user("eng", "submitter")
    model = eng.register_model("chat", make_model_folder(tmp_path / "m")).ref
    guard = _guard(eng, tmp_path)
    _probed(gov.as_user("val", "validator"), guard, model, **metrics)
    assert _blocking(eng, guard) == {condition: "fail"}


def test_no_benign_probes_fails_closed(gov: Governed, tmp_path: Path) -> None:
    eng = gov.as_user("eng", "submitter")
    model = eng.register_model("chat", make_model_folder(tmp_path / "m")).ref
    guard = _guard(eng, tmp_path)
    val = gov.as_user("val", "validator")
    without = {k: v for k, v in GOOD.items() if k != "over_refusal_rate"}
    val.attach_evidence(
        guard, kind="guard_probe", digest=val.get(guard).digest, metrics=without, paired=model
    )
    assert _blocking(eng, guard) == {"little-over-refusal": "missing"}


def test_a_high_risk_guard_needs_zero_leakage(gov: Governed, tmp_path: Path) -> None:
    eng = gov.as_user("eng", "submitter")
    model = eng.register_model("chat", make_model_folder(tmp_path / "m")).ref
    guard = _guard(eng, tmp_path, risk_tier="high")
    _probed(gov.as_user("val", "validator"), guard, model, leakage_rate=0.005)
    assert _blocking(eng, guard) == {"no-data-leakage": "fail"}
    staging = _guard(eng, tmp_path)  # staging has one rule for every tier
    assert "evidence:guard_probe" in _blocking(eng, staging, to="staging")
