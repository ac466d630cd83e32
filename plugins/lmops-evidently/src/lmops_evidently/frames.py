"""Building the reference and current feature frames from two JSONL windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lmops_core.contracts import NullProgress, ProgressReporter
from lmops_core.errors import ValidationError
from lmops_evidently.jsonl import count_rows, iter_chunks
from lmops_evidently.params import DESCRIPTORS, DriftParams
from lmops_evidently.pii import Scan, load_scanner, require_scanner
from lmops_evidently.schema import Schema, infer_schema
from lmops_evidently.vocabulary import ReferenceVocabulary, TokenizerVocabulary
from lmops_evidently.window import Vocabulary, WindowBuilder

SCHEMA_ROWS = 1_000
"""Leading reference rows (after sampling) from which field types are inferred."""


@dataclass
class FeatureFrames:
    """The two frames Evidently compares, and how they were obtained."""

    reference: pd.DataFrame
    current: pd.DataFrame
    schema: Schema
    rows_reference: int
    rows_current: int
    sampled: bool
    vocabulary: str
    pii: str
    embedding_texts: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Per embedding field, the (reference, current) texts of the embedding sample."""


def choose_rows(total: int, limit: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """Sorted ordinals of a uniform sample of ``limit`` rows, or None to keep all."""
    if limit is None or total <= limit:
        return None
    return np.sort(rng.choice(total, size=limit, replace=False))


def _descriptors(params: DriftParams) -> tuple[tuple[str, ...], Scan | None, str]:
    """Active descriptors, the PII scanner (if any) and a status line for the evidence."""
    if params.descriptors is not None:
        chosen = params.descriptors
        if "pii" in chosen:
            return chosen, require_scanner(), "lmops_presidio.guard.PiiGuard"
        return chosen, None, 'not measured: "pii" not among the descriptors param'
    scan, status = load_scanner()
    if scan is None:
        return tuple(d for d in DESCRIPTORS if d != "pii"), None, status
    return DESCRIPTORS, scan, status


def build_feature_frames(
    reference_path: Path,
    current_path: Path,
    params: DriftParams,
    *,
    tokenizer: TokenizerVocabulary | None = None,
    seed: int = 0,
    progress: ProgressReporter | None = None,
) -> FeatureFrames:
    """Read both windows in chunks and measure every feature the drift test compares.

    Windows longer than ``params.sample_rows`` are sampled uniformly (seeded
    by ``seed``) before parsing. The schema is inferred from the reference's
    first rows (:data:`SCHEMA_ROWS`); the current window must fit it.
    """
    progress = progress or NullProgress()
    rng = np.random.default_rng(seed)
    totals = {path: count_rows(path) for path in (reference_path, current_path)}
    for role, path in (("reference", reference_path), ("current", current_path)):
        if totals[path] == 0:
            raise ValidationError(f"the {role} window {path} has no records", file=str(path))
    picks = {path: choose_rows(totals[path], params.sample_rows, rng) for path in totals}
    analysed = {p: totals[p] if (pick := picks[p]) is None else len(pick) for p in totals}
    descriptors, scan, pii_status = _descriptors(params)

    progress.start("drift: measuring windows", total=float(sum(analysed.values())))
    # The schema comes from a fixed-size prefix, so it never depends on chunk_size.
    head = next(iter_chunks(reference_path, SCHEMA_ROWS, picks[reference_path]))
    schema = infer_schema(head, params, reference_path, descriptors)
    vocabularies: dict[str, Vocabulary] = {
        name: tokenizer if tokenizer is not None else ReferenceVocabulary()
        for name in schema.text_fields
    }

    def pii_rows(path: Path) -> np.ndarray:
        return np.sort(rng.choice(analysed[path], min(params.pii_rows, analysed[path]), False))

    def embedding_rows(path: Path) -> np.ndarray | None:
        if not schema.embedding_fields:
            return None  # no draw: sampling and PII rows stay as without embeddings
        size = min(params.embedding_rows, analysed[path])
        return np.sort(rng.choice(analysed[path], size, False))

    reference = WindowBuilder(
        schema=schema,
        path=reference_path,
        vocabularies=vocabularies,
        building_reference=True,
        scan=scan,
        pii_rows=pii_rows(reference_path),
        embedding_rows=embedding_rows(reference_path),
    )
    for chunk in iter_chunks(reference_path, params.chunk_size, picks[reference_path]):
        reference.add(chunk)
        progress.advance(len(chunk))
    reference_frame = reference.frame()

    current = WindowBuilder(
        schema=schema,
        path=current_path,
        vocabularies=vocabularies,
        building_reference=False,
        scan=scan,
        pii_rows=pii_rows(current_path),
        embedding_rows=embedding_rows(current_path),
    )
    for chunk in iter_chunks(current_path, params.chunk_size, picks[current_path]):
        current.add(chunk)
        progress.advance(len(chunk))
    progress.finish()
    return FeatureFrames(
        reference=reference_frame,
        current=current.frame(),
        schema=schema,
        rows_reference=totals[reference_path],
        rows_current=totals[current_path],
        sampled=any(p is not None for p in picks.values()),
        vocabulary="tokenizer" if tokenizer is not None else "reference (cross-fitted)",
        pii=pii_status,
        embedding_texts={
            name: (reference.embedding_texts.get(name, []), current.embedding_texts.get(name, []))
            for name in schema.embedding_fields
        },
    )
