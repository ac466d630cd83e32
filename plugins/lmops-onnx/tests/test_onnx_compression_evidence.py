"""Both ONNX operations record complete ``compression`` evidence, every engine timed."""

from __future__ import annotations

import pytest
from lmops_onnx.evidence import COMPRESSION_METRICS
from lmops_onnx.operations import OUTPUT_ROLE

from lmops_core.contracts import StageResult


@pytest.mark.parametrize(
    ("result", "engines"),
    [("export_result", ("torch_fp32", "ort_fp32")), ("int8_result", ("ort_fp32", "ort_int8"))],
)
def test_evidence_has_every_metric(
    request: pytest.FixtureRequest, result: str, engines: tuple[str, ...]
) -> None:
    run: StageResult = request.getfixturevalue(result)
    [evidence] = run.evidence
    assert (evidence.kind, evidence.subject) == ("compression", OUTPUT_ROLE)
    for name in (m.name for m in COMPRESSION_METRICS):
        assert isinstance(evidence.metrics[name], int | float), name
    for engine in engines:
        p50, p95 = (evidence.metrics[f"latency_{q}_ms_{engine}"] for q in ("p50", "p95"))
        assert 0 < p50 <= p95, engine
