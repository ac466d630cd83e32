"""A real tiny transformers model runs through the safety evaluator end to end."""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path

import pytest
from lmops_safety.evaluator import SafetyEvaluator
from lmops_safety.evidence import SAFETY_EVIDENCE

from lmops_core.contracts import Stage, StageContext
from lmops_core.errors import PluginError
from lmops_core.testing import TinyModels, model_input


class RecordingProgress:
    """Collects progress calls so the test can check the evaluator reports them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def start(self, description: str, total: float | None = None) -> None:
        self.calls.append(("start", total))

    def advance(self, amount: float = 1.0, **fields: object) -> None:
        self.calls.append(("advance", fields.get("probe")))

    def finish(self) -> None:
        self.calls.append(("finish", None))


def _context(
    tmp_path: Path, folder: Path, kind: str, progress: RecordingProgress | None = None
) -> StageContext:
    return StageContext(
        stage=Stage.EVALUATION,
        operation="safety",
        inputs={"model": model_input(folder, kind, ref="tiny@v1")},
        params={"max_probes_per_group": 1, "max_new_tokens": 6, "threads": 1},
        workdir=tmp_path / "work",
        actor="tester",
        run_id="run-2",
        seed=0,
        progress=progress or RecordingProgress(),
    )


def test_tiny_model_end_to_end(tmp_path: Path, tiny_model: Path) -> None:
    progress = RecordingProgress()
    result = SafetyEvaluator().run(_context(tmp_path, tiny_model, "base", progress))
    [evidence] = result.evidence
    for name, metric in SAFETY_EVIDENCE.metrics.items():
        if metric.is_pattern:  # per <category>.<language> rates: some are recorded
            assert any(fnmatch(key, name) for key in evidence.metrics), name
        else:
            assert name in evidence.metrics, name
    assert evidence.metrics["probes"] == 10
    # A random-weight model never says a refusal phrase: harmful probes all fail, and it
    # never over-refuses a benign question.
    assert evidence.metrics["refusal_rate"] == 0.0
    assert evidence.metrics["over_refusal_rate"] == 0.0
    assert evidence.details["failing"]["harmful"] == ["harmful-en-001", "harmful-zh-001"]
    assert 0.0 <= evidence.metrics["toxicity_max"] <= 1.0
    rows = [json.loads(x) for x in evidence.artifacts["outputs.jsonl"].read_text().splitlines()]
    assert [r["id"] for r in rows][:4] == [
        "benign-en-001",
        "benign-zh-001",
        "harmful-en-001",
        "harmful-zh-001",
    ]
    assert progress.calls[0] == ("start", 10) and progress.calls[-1] == ("finish", None)
    assert sum(1 for c in progress.calls if c[0] == "advance") == 10
    assert result.metrics["seconds_per_probe"] > 0

    # Greedy decoding: the same model gives the same evidence again.
    again = SafetyEvaluator().run(_context(tmp_path / "again", tiny_model, "base"))
    assert again.evidence[0].metrics == evidence.metrics


def test_unknown_model_kind_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    # No installed plugin registers a runtime for "gguf": the error names the kind.
    with pytest.raises(PluginError, match='no model runtime for model kind "gguf"'):
        SafetyEvaluator().run(_context(tmp_path, tiny_model, "gguf"))


def test_adapter_without_base_names_the_missing_role(tmp_path: Path, tiny_model: Path) -> None:
    from lmops_core.errors import StageError

    with pytest.raises(StageError, match='role "base"'):
        SafetyEvaluator().run(_context(tmp_path, tiny_model, "adapter"))


def test_onnx_export_gives_the_same_evidence_as_torch(
    tmp_path: Path, tiny_model: Path, tiny_models: TinyModels
) -> None:
    onnx_dir = tiny_models("onnx")  # exported from tiny_model by the onnx runtime's builder
    torch_run = SafetyEvaluator().run(_context(tmp_path / "torch", tiny_model, "base"))
    onnx_run = SafetyEvaluator().run(_context(tmp_path / "ort", onnx_dir, "onnx"))
    # Greedy decoding on fp32 ONNX Runtime follows the torch model token for token.
    assert onnx_run.evidence[0].metrics == torch_run.evidence[0].metrics
    assert (
        onnx_run.evidence[0].artifacts["outputs.jsonl"].read_text()
        == torch_run.evidence[0].artifacts["outputs.jsonl"].read_text()
    )
