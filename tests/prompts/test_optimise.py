"""Prompt optimisation through a workspace: variants recorded, evaluated with one model, the
best aliased ``candidate`` and still gated like any prompt.

The evaluator is a plugin written for the test: it scores how long the text sent to the
model is, so which variant must win is known in advance.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core import Workspace
from lmops_core.errors import ValidationError
from lmops_core.prompts import EvaluationRun, PromptSpec, VariantRules
from tests.conftest import make_model_folder, plugin_ws, write_jsonl

EVALUATOR = textwrap.dedent("""
    from lmops_core import hookimpl, StageResult
    from lmops_core.prompts import PromptedRun
    from tests.plugin_steps import Step

    def measure(context):
        prompted = PromptedRun.of(context)
        sent = prompted.text("How do I block my card?")
        metrics = {"length": float(len(sent)), "items": 1}
        return StageResult(evidence=[prompted.evidence("prompt_length", metrics, {"sent": sent})])

    @hookimpl
    def register_evaluators(register):
        register(Step("prompt-length", "scores the length of what the model is sent", measure))
""")


@pytest.fixture
def ws(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    with plugin_ws(tmp_path, db_url, EVALUATOR, "length_eval.py") as workspace:
        yield workspace


def test_the_best_variant_becomes_the_candidate(ws: Workspace, tmp_path: Path) -> None:
    model = ws.register_model("chat", make_model_folder(tmp_path / "m")).ref
    faq = ws.register_dataset(
        "faq",
        write_jsonl(
            tmp_path / "faq.jsonl", [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(5)]
        ),
        shape="instruction",
    ).ref
    base = ws.create_prompt("support", "Customer: {message}", target_model=model).ref
    result = ws.optimise_prompt(
        base,
        evaluations=[EvaluationRun("prompt-length")],
        metric="prompt_length.length",
        rules=VariantRules(
            templates=["Help the customer with: {message}"],
            instructions=["Be brief."],
            few_shot=faq,
            shots=[1, 3],
            seed=3,
        ),
    )
    assert [t.rule for t in result.trials] == [
        "base",
        "given",
        "instruction",
        "few-shot-1",
        "few-shot-3",
    ]
    assert result.trials[0].ref == base and result.model == model
    winner = result.trials[-1]  # three examples make the longest text
    assert result.best == winner.ref and ws.get("prompt:support@candidate").ref == winner.ref
    for trial in result.trials[1:]:
        version = ws.get(trial.ref)
        assert version.target_model == model
        assert version.tags == {"variant_of": base, "variant_rule": trial.rule}
    for trial in result.trials:
        [evidence] = ws.evidence(trial.ref, kind="prompt_length")
        assert evidence.paired == model and evidence.metrics["length"] == trial.score
    # The winner still needs what the production gate asks for.
    verdict = ws.governance.explain(result.best, to="production")
    assert not verdict.allowed

    # The same seed draws the same examples; the base wins ties (lower is better here).
    again = ws.optimise_prompt(
        base,
        evaluations=[EvaluationRun("prompt-length")],
        metric="prompt_length.length",
        rules=VariantRules(few_shot=faq, shots=[3], seed=3),
        higher_is_better=False,
    )
    assert ws.get(again.trials[1].ref).template == ws.get(winner.ref).template
    assert again.best == base and ws.get("prompt:support@candidate").ref == base


def test_bad_requests_name_what_is_wrong(ws: Workspace, tmp_path: Path) -> None:
    model = ws.register_model("chat", make_model_folder(tmp_path / "m")).ref
    loose = ws.create_prompt("loose", "Q: {q}").ref
    run = [EvaluationRun("prompt-length")]
    brief = VariantRules(instructions=["x"])
    with pytest.raises(ValidationError, match="names no target model"):
        ws.optimise_prompt(loose, evaluations=run, metric="prompt_length.length", rules=brief)
    with pytest.raises(ValidationError, match="must be KIND.METRIC"):
        ws.optimise_prompt(loose, evaluations=run, metric="length", model=model, rules=brief)
    with pytest.raises(ValidationError, match="no 'ratings' evidence"):
        ws.optimise_prompt(
            loose, evaluations=run, metric="ratings.score_mean", model=model, rules=brief
        )
    text = ws.register_dataset(
        "t", write_jsonl(tmp_path / "t.jsonl", [{"text": "hi"}]), shape="text"
    ).ref
    with pytest.raises(ValidationError, match="instruction dataset"):
        ws.optimise_prompt(
            loose,
            evaluations=run,
            metric="prompt_length.length",
            model=model,
            rules=VariantRules(few_shot=text, shots=[1]),
        )
    assert PromptSpec("Q: {q}", ("q",)).render_input("x", ref=loose) == "Q: x"
