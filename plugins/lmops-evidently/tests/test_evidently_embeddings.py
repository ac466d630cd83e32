"""Embedding drift through the bundled all-MiniLM-L6-v2 and Evidently's EmbeddingsDrift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lmops_evidently.monitor import DriftMonitor

from lmops_core.errors import ValidationError

# 80 rows per window, 40 embedded: enough for the domain classifier, quick on a CPU.
PARAMS = {"embedding_fields": ["prompt"], "embedding_rows": 40, "pii_rows": 20}


def test_prompts_in_another_language_drift_in_embedding_space(
    tmp_path: Path, make_context: Any, logs: Any, jsonl: Any
):
    reference = jsonl(tmp_path / "reference.jsonl", logs(80, seed=1))
    current = jsonl(tmp_path / "current.jsonl", logs(80, seed=2, shifted=True))
    [evidence] = DriftMonitor().run(make_context(reference, current, PARAMS)).evidence
    metrics = evidence.metrics
    assert metrics["embedding_drift"] is True
    assert metrics["column.prompt.embedding.drifted"] is True
    assert metrics["column.prompt.embedding.score"] > 0.9  # ROC AUC of telling them apart
    assert metrics["column.prompt.embedding.rows_reference"] == 40
    assert "column.response.embedding.score" not in metrics
    html = evidence.artifacts["embedding_drift_report.html"]
    assert html.is_file() and "prompt" in html.read_text(encoding="utf-8")


def test_embedding_field_must_be_a_text_field(
    tmp_path: Path, make_context: Any, logs: Any, jsonl: Any
):
    reference = jsonl(tmp_path / "reference.jsonl", logs(10, seed=1))
    params = {"embedding_fields": ["route"]}
    with pytest.raises(ValidationError, match='param "embedding_fields": "route" is not a text'):
        DriftMonitor().run(make_context(reference, reference, params))
