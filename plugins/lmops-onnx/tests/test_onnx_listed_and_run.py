"""lmops-onnx is listed by `lmops plugins` and its operations run through the runner."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import Governed, listed_plugins


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    listed = listed_plugins(tmp_path / "home")["lmops-onnx"]
    assert sorted(listed["operations"]) == ["compression:onnx-export", "compression:onnx-int8"]
    assert listed["model_runtimes"] == ["onnx", "onnx-int8"]


def test_operations_run_through_the_runner(workspace: Governed, tiny_model: Path) -> None:
    eng = workspace.as_user("eng", "submitter")
    base = eng.register_model("tiny", tiny_model).ref
    params = {"latency_repeats": 1, "threads": 1, "max_eval_records": 2, "max_eval_tokens": 16}
    onnx = eng.run_stage(
        "compression", "onnx-export", inputs={"model": base}, params=params
    ).output("compressed")
    int8 = eng.run_stage("compression", "onnx-int8", inputs={"model": onnx}, params=params).output(
        "compressed"
    )
    assert (eng.get(onnx).kind, eng.get(int8).kind) == ("onnx", "onnx-int8")
    for ref in (onnx, int8):
        [evidence] = eng.evidence(ref, kind="compression")
        assert evidence.metrics["size_bytes_after"] > 0
