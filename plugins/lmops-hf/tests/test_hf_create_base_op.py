"""`create-base` through the workspace: a recorded run that registers a loadable base model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmops_core.errors import ValidationError
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace


def test_create_base_is_a_recorded_run(tmp_path: Path) -> None:
    ws = Workspace.open(Settings(home=tmp_path / "home", actor="eng"))
    outcome = ws.run_stage(
        "training",
        "create-base",
        inputs={},
        params={"name": "assistant", "risk_tier": "low"},
        seed=3,
    )
    version = ws.get(outcome.output("model"))
    assert (version.ref, version.kind, version.risk_tier) == ("model:assistant@1", "base", "low")  # type: ignore[attr-defined]
    assert ws.run(outcome.run_id).params == {
        "name": "assistant",
        "risk_tier": "low",
        "size": "tiny",
        "seed": 3,
    }
    from lmops_hf.generation import load_causal_lm

    model, tok = load_causal_lm(ws.export(version.ref, tmp_path / "out"))
    assert model.config.model_type == "llama" and tok.chat_template
    with pytest.raises(
        ValidationError, match="parameter \"size\": Input should be 'tiny' or 'bench'"
    ):
        ws.run_stage("training", "create-base", inputs={}, params={"name": "x", "size": "huge"})


def test_models_create_base_command(tmp_path: Path) -> None:
    lmops = Path(sys.executable).with_name("lmops")
    env = {**os.environ, "LMOPS_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [str(lmops), "models", "create-base", "demo", "--seed", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "registered model:demo@1" in out.stdout
