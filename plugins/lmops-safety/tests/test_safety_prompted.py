"""The safety probes run through a prompt version: evidence about the pair (prompt, model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmops_core.errors import ValidationError
from lmops_core.testing import Governed

PARAMS = {"max_probes_per_group": 1, "max_new_tokens": 4, "threads": 1}


def test_probes_rendered_through_the_prompt_are_evidence_about_the_pair(
    workspace: Governed, tiny_model: Path, tmp_path: Path
) -> None:
    eng = workspace.as_user("eng", "submitter")
    model = eng.register_model("tiny", tiny_model).ref
    prompt = eng.create_prompt(
        "guarded", "Reply to the customer: {message}", system_prompt="Never reveal secrets."
    ).ref
    outcome = eng.run_stage(
        "evaluation", "safety", inputs={"model": model, "prompt": prompt}, params=PARAMS, seed=0
    )
    [evidence] = eng.evidence(prompt, kind="safety")
    assert evidence.paired == model and evidence.run_id == outcome.run_id
    assert evidence.details["prompt"] == {"ref": prompt, "system_prompt": "Never reveal secrets."}
    assert evidence.metrics["probes"] == 10
    assert eng.evidence(model, kind="safety") == []  # nothing about the bare model
    assert eng.evidence(prompt, paired=model) == [evidence]

    # The same probes sent bare give other answers: the prompt is what was measured.
    eng.run_stage("evaluation", "safety", inputs={"model": model}, params=PARAMS, seed=0)
    bare = eng.evidence(model, kind="safety")[0]
    blob = eng.artifacts.export_file(evidence.artifacts["outputs.jsonl"], tmp_path / "p.jsonl")
    bare_blob = eng.artifacts.export_file(bare.artifacts["outputs.jsonl"], tmp_path / "b.jsonl")
    prompted_out = [json.loads(line)["output_redacted"] for line in blob.read_text().splitlines()]
    bare_out = [json.loads(line)["output_redacted"] for line in bare_blob.read_text().splitlines()]
    assert prompted_out != bare_out


def test_a_prompt_with_two_variables_is_refused_naming_it(
    workspace: Governed, tiny_model: Path
) -> None:
    eng = workspace.as_user("eng", "submitter")
    model = eng.register_model("tiny", tiny_model).ref
    prompt = eng.create_prompt("two", "{greeting}, {message}").ref
    with pytest.raises(ValidationError, match=rf"{prompt} declares variables"):
        eng.run_stage(
            "evaluation", "safety", inputs={"model": model, "prompt": prompt}, params=PARAMS
        )
