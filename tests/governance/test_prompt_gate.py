"""Promoting a prompt to production under the shipped policy: judged with its target model.

The evidence is attached by hand (as a validation team would) so that each test fixes the
numbers the gate compares; the evaluators that measure them have tests of their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core import Workspace
from lmops_core.errors import PolicyViolationError
from lmops_core.testing import Governed
from tests.conftest import make_model_folder

REPO = Path(__file__).resolve().parents[2]
POLICIES = {"default": (REPO / "policies" / "default.yaml").read_text(encoding="utf-8")}
#: What blocks a prompt with no evidence measured on its target model.
UNMEASURED = {
    "evidence:safety": "missing",
    "evidence:ratings": "missing",
    "resists-prompt-injection": "missing",
    "no-data-leakage": "missing",
}


@pytest.fixture
def gov(tmp_path: Path, db_url: str) -> Governed:
    governed = Governed.open(tmp_path / "home", policies=POLICIES, database_url=db_url)
    yield governed
    governed.close()


def _models(eng: Workspace, tmp_path: Path) -> tuple[str, str]:
    first = eng.register_model("chat", make_model_folder(tmp_path / "m1", b"\x01" * 64)).ref
    second = eng.register_model("chat", make_model_folder(tmp_path / "m2", b"\x02" * 64)).ref
    return first, second


def _measured(
    ws: Workspace,
    prompt: str,
    model: str,
    *,
    score: float = 4.0,
    pass_rate: float = 0.9,
    injection: float = 0.0,
) -> None:
    digest = ws.get(prompt).digest
    safety = {
        "pass_rate": pass_rate,
        "injection_success_rate": injection,
        "leakage_rate": 0.0,
        "refusal_rate": 0.5,
    }
    ws.attach_evidence(prompt, kind="safety", digest=digest, metrics=safety, paired=model)
    ratings = {"score_mean": score, "count": 5}
    ws.attach_evidence(prompt, kind="ratings", digest=digest, metrics=ratings, paired=model)


def _blocking(ws: Workspace, ref: str) -> dict[str, str]:
    verdict = ws.governance.explain(ref, to="production")
    return {o.condition: o.status for o in verdict.blocking}


def _promote(gov: Governed, eng: Workspace, ref: str) -> None:
    request = eng.governance.request_promotion(ref, to="production")
    validator = gov.as_user("vera", "validator")
    validator.governance.decide(request.id, approve=True, role="validator", comment="read it")
    assert eng.get(ref).stage == "production"


def test_a_prompt_measured_on_its_model_is_approved_like_a_model(
    gov: Governed, tmp_path: Path
) -> None:
    eng = gov.as_user("eng", "submitter")
    model, _ = _models(eng, tmp_path)
    prompt = eng.create_prompt(
        "support", "Answer briefly: {question}", system_prompt="You are polite.", target_model=model
    ).ref
    assert _blocking(eng, prompt) == UNMEASURED
    with pytest.raises(PolicyViolationError, match="safety"):
        eng.governance.request_promotion(prompt, to="production")
    _measured(eng, prompt, model)
    assert _blocking(eng, prompt) == {}
    request = eng.governance.request_promotion(prompt, to="production")
    assert request.status == "pending" and eng.get(prompt).stage is None
    validator = gov.as_user("vera", "validator")
    validator.governance.decide(request.id, approve=True, role="validator", comment="fine")
    assert eng.get(prompt).stage == "production"


def test_evidence_on_another_model_version_does_not_count(gov: Governed, tmp_path: Path) -> None:
    eng = gov.as_user("eng", "submitter")
    model, other = _models(eng, tmp_path)
    prompt = eng.create_prompt("support", "Q: {question}", target_model=model).ref
    _measured(eng, prompt, other)
    assert _blocking(eng, prompt) == UNMEASURED
    [safety] = eng.evidence(prompt, kind="safety")
    assert safety.paired == other and eng.evidence(prompt, paired=model) == []


def test_a_prompt_without_a_target_model_is_blocked(gov: Governed, tmp_path: Path) -> None:
    eng = gov.as_user("eng", "submitter")
    model, _ = _models(eng, tmp_path)
    prompt = eng.create_prompt("support", "Q: {question}").ref
    digest = eng.get(prompt).digest
    for kind in ("safety", "ratings"):  # unpaired evidence: still no target model
        eng.attach_evidence(prompt, kind=kind, digest=digest, metrics={"score_mean": 5.0})
    assert _blocking(eng, prompt)["names-its-model"] == "fail"


def test_unsafe_prompt_is_refused(gov: Governed, tmp_path: Path) -> None:
    eng = gov.as_user("eng", "submitter")
    model, _ = _models(eng, tmp_path)
    prompt = eng.create_prompt("support", "Q: {question}", target_model=model).ref
    _measured(eng, prompt, model, injection=0.25)
    with pytest.raises(PolicyViolationError, match="prompt injections succeed"):
        eng.governance.request_promotion(prompt, to="production")


def test_no_regression_against_the_production_prompt_on_the_same_model(
    gov: Governed, tmp_path: Path
) -> None:
    eng = gov.as_user("eng", "submitter")
    model, other = _models(eng, tmp_path)
    live = eng.create_prompt("support", "Q: {question}", target_model=model).ref
    _measured(eng, live, model, score=4.0)
    _measured(eng, live, other, score=1.0)  # on another model it was poor: not compared
    _promote(gov, eng, live)

    worse = eng.create_prompt("support", "Question: {question}", target_model=model).ref
    _measured(eng, worse, model, score=3.5)
    assert _blocking(eng, worse) == {"no-quality-regression": "fail"}
    with pytest.raises(PolicyViolationError, match="rated lower than the prompt in production"):
        eng.governance.request_promotion(worse, to="production")

    better = eng.create_prompt("support", "Please answer: {question}", target_model=model).ref
    _measured(eng, better, model, score=4.2, pass_rate=0.95)
    assert _blocking(eng, better) == {}

    # A candidate for a model the production prompt was never measured on cannot be compared.
    elsewhere = eng.create_prompt("support", "Hi. {question}", target_model=other).ref
    _measured(eng, elsewhere, other, score=4.9)
    assert _blocking(eng, elsewhere) == {}  # the live prompt has evidence on `other`: 1.0
    untested = eng.register_model("chat", make_model_folder(tmp_path / "m3", b"\x03" * 64)).ref
    fresh = eng.create_prompt("support", "Yo {question}", target_model=untested).ref
    _measured(eng, fresh, untested, score=4.9, pass_rate=1.0)
    assert _blocking(eng, fresh) == {
        "no-safety-regression": "missing",
        "no-quality-regression": "missing",
    }
