"""An evaluation suite is a versioned asset: "evaluated with suite:gate@1" is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.errors import ValidationError
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

SUITE = "name: gate\ntasks: [lmops_facts_mc_en]\nlimit: 4\nthresholds:\n  acc: {min: 0.0}\n"


def test_suite_versions_pin_the_evaluation(tiny_model: Path, tmp_path: Path) -> None:
    ws = Workspace.open(Settings(home=tmp_path / "home", actor="val"))
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "suite.yaml").write_text(SUITE)
    first = ws.register_suite("gate", folder)
    (folder / "suite.yaml").write_text(SUITE.replace("min: 0.0", "min: 0.1"))
    second = ws.register_suite("gate", folder)
    assert (first.ref, second.ref) == ("suite:gate@1", "suite:gate@2")
    assert first.digest != second.digest
    with pytest.raises(ValidationError, match="has no suite.yaml"):
        ws.register_suite("gate", tmp_path)

    model = ws.register_model("tiny", tiny_model).ref
    ws.run_stage("evaluation", "lm-eval", inputs={"model": model, "suite": first.ref})
    (ev,) = ws.evidence(model, kind="eval")
    assert ev.metrics["suite"] == "suite:gate@1" and ev.metrics["samples"] == 4
    assert ev.details["suite"]["ref"] == "suite:gate@1"
    assert ev.details["suite"]["registry_digest"] == first.digest
    assert ws.run(ev.run_id or "").inputs == {"model": model, "suite": "suite:gate@1"}
    with pytest.raises(ValidationError, match='parameter "suite": Value error, is not accepted'):
        ws.run_stage(
            "evaluation",
            "lm-eval",
            inputs={"model": model, "suite": first.ref},
            params={"suite": "x.yaml"},
        )
