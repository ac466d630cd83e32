"""Evidence paired with a model version: only about a prompt, only with a model, digested."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core import Workspace
from lmops_core.errors import StageError, ValidationError
from tests.conftest import make_model_folder, plugin_ws

MISPAIRED = textwrap.dedent("""
    from lmops_core import hookimpl, StageResult, EvidenceRecord
    from tests.plugin_steps import Step

    def pair(subject, paired):
        def run(context):
            record = EvidenceRecord("note", subject, {"n": 1}, paired=paired)
            return StageResult(evidence=[record])
        return run

    @hookimpl
    def register_evaluators(register):
        register(Step("model-about-model", "pairs a model with a model", pair("model", "other")))
        register(Step("prompt-with-prompt", "pairs a prompt with a prompt", pair("prompt", "p2")))
        register(Step("good-pair", "pairs a prompt with a model", pair("prompt", "model")))
""")


@pytest.fixture
def ws(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    with plugin_ws(tmp_path, db_url, MISPAIRED, "mispaired.py") as workspace:
        yield workspace


def _models_and_prompt(ws: Workspace, tmp_path: Path, other: str) -> tuple[str, str, str]:
    """Refs of model ``m``, of a model version of ``other`` (``m`` again: a second version)
    with other weights, and of prompt ``p``."""
    model = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    second = ws.register_model(other, make_model_folder(tmp_path / "o", b"\x07" * 64)).ref
    return model, second, ws.create_prompt("p", "Q: {q}").ref


def test_the_runner_refuses_pairs_that_are_not_prompt_with_model(
    ws: Workspace, tmp_path: Path
) -> None:
    model, other, prompt = _models_and_prompt(ws, tmp_path, "o")
    second = ws.create_prompt("p2", "A: {q}").ref
    with pytest.raises(StageError, match="only evidence about a prompt or guard input is paired"):
        ws.run_stage("evaluation", "model-about-model", inputs={"model": model, "other": other})
    with pytest.raises(StageError, match="paired 'p2' is not a model input role"):
        ws.run_stage("evaluation", "prompt-with-prompt", inputs={"prompt": prompt, "p2": second})
    ws.run_stage("evaluation", "good-pair", inputs={"prompt": prompt, "model": model})
    [note] = ws.evidence(prompt, kind="note")
    assert note.paired == model and ws.evidence(prompt, paired=other) == []


def test_pairing_is_part_of_the_evidence_digest_and_only_for_prompts(
    ws: Workspace, tmp_path: Path
) -> None:
    model, other, prompt = _models_and_prompt(ws, tmp_path, "m")
    digest = ws.get(prompt).digest
    one = ws.attach_evidence(prompt, kind="note", digest=digest, metrics={"n": 1}, paired=model)
    two = ws.attach_evidence(prompt, kind="note", digest=digest, metrics={"n": 1}, paired=other)
    bare = ws.attach_evidence(prompt, kind="note", digest=digest, metrics={"n": 1})
    assert len({one.digest, two.digest, bare.digest}) == 3 and bare.paired is None
    model_digest = ws.get(model).digest
    with pytest.raises(
        ValidationError, match="only evidence about a prompt or guard version is paired"
    ):
        ws.attach_evidence(model, kind="note", digest=model_digest, metrics={}, paired=other)
