"""The ``drift`` monitor: reference window vs current window, through Evidently."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import evidently
import pandas as pd

from lmops_core.contracts import EvidenceRecord, StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_core.kit import dataset_parts, is_partitioned, part_lines
from lmops_evidently.embeddings import AUC_THRESHOLD, run_embedding_drift
from lmops_evidently.embeddings import METHOD_NAME as EMBEDDING_METHOD
from lmops_evidently.frames import FeatureFrames, build_feature_frames, settle_heap
from lmops_evidently.params import DriftParams
from lmops_evidently.plugin import DriftOperation
from lmops_evidently.report import DriftVerdict, run_drift_report
from lmops_evidently.report_head import Heading, Window
from lmops_evidently.vocabulary import TokenizerVocabulary

REPORT_NAME = "drift_report.html"
EMBEDDING_REPORT_NAME = "embedding_drift_report.html"

from lmops_evidently.kinds import DRIFT_EVIDENCE  # noqa: E402  (re-exported)


def _dataset_path(context: StageContext, role: str) -> Path:
    """The window's file; a partitioned version is joined into one JSONL file in the workdir,
    partition by partition (the readers below then sample and count rows as for a file)."""
    asset = context.input(role)
    if asset.asset_type == "dataset" and asset.path is not None and is_partitioned(asset.path):
        joined = context.workdir / f"{role}-partitions.jsonl"
        joined.parent.mkdir(parents=True, exist_ok=True)
        with joined.open("wb") as out:
            for _, part in dataset_parts(asset.path):
                out.writelines(raw.rstrip(b"\n") + b"\n" for _, raw in part_lines(part))
        return joined
    if asset.asset_type != "dataset" or asset.path is None or not asset.path.is_file():
        raise ValidationError(
            f'input "{role}" ({asset.ref}) must be a dataset version: one file (JSONL, one '
            "JSON object per line, or Parquet) or a folder of partitions",
            role=role,
        )
    return asset.path


def _tokenizer(context: StageContext) -> TokenizerVocabulary | None:
    model = context.inputs.get("model")
    if model is None or model.path is None or not model.path.is_dir():
        return None
    return TokenizerVocabulary.from_model_folder(model.path)


def _summary(frames: FeatureFrames) -> dict[str, Any]:
    """Per-column means, and the shares of our own script labels (never user values)."""
    summary: dict[str, Any] = {}
    for name in frames.schema.numeric_columns:
        summary[name] = {
            "reference_mean": _mean(frames.reference[name]),
            "current_mean": _mean(frames.current[name]),
        }
    for name in frames.schema.categorical_columns:
        if name.endswith(".lang"):
            summary[name] = {
                "reference_shares": _shares(frames.reference[name]),
                "current_shares": _shares(frames.current[name]),
            }
    return summary


def _mean(column: pd.Series) -> float | None:
    value = column.mean()
    return None if pd.isna(value) else float(value)


def _shares(column: pd.Series) -> dict[str, float]:
    shares = column.value_counts(normalize=True)
    return {str(k): round(float(v), 6) for k, v in shares.items() if v > 0}


def _metrics(verdict: DriftVerdict, frames: FeatureFrames, params: DriftParams) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "dataset_drift": verdict.dataset_drift,
        "drifted_share": verdict.drifted_share,
        "drifted_columns": verdict.drifted_columns,
        "columns": len(verdict.columns),
        "drift_share_threshold": verdict.drift_share_threshold,
        "rows_reference": frames.rows_reference,
        "rows_current": frames.rows_current,
        "rows_reference_analyzed": len(frames.reference),
        "rows_current_analyzed": len(frames.current),
        "sampled": frames.sampled,
        # 0 means "no sampling was configured".
        "sample_rows": params.sample_rows or 0,
        "chunk_size": params.chunk_size,
    }
    for column in verdict.columns:
        prefix = f"column.{column.column}"
        metrics[f"{prefix}.score"] = column.score
        metrics[f"{prefix}.method"] = column.method
        metrics[f"{prefix}.threshold"] = column.threshold
        metrics[f"{prefix}.drifted"] = column.drifted
    return metrics


def _heading(context: StageContext, verdict: DriftVerdict, frames: FeatureFrames) -> Heading:
    """The report's heading: the model (if any), both windows and Evidently's verdict."""
    model = context.inputs.get("model")
    sign = ">=" if verdict.dataset_drift else "<"
    return Heading(
        kind="Drift report",
        model=model.ref if model is not None else None,
        reference=Window(
            context.input("reference").ref, frames.rows_reference, len(frames.reference)
        ),
        current=Window(context.input("current").ref, frames.rows_current, len(frames.current)),
        drifted=verdict.dataset_drift,
        finding=(
            f"{verdict.drifted_columns} of {len(verdict.columns)} columns drifted "
            f"(share {verdict.drifted_share:.2f} {sign} threshold "
            f"{verdict.drift_share_threshold:.2f})"
        ),
    )


class DriftMonitor(DriftOperation):
    """Compares a ``reference`` window with a ``current`` one.

    Inputs: ``reference`` and ``current`` (dataset versions, each one JSONL
    file or one Parquet file, told apart by content; the two may differ),
    optionally ``model`` (its ``tokenizer.json`` then defines the OOV
    vocabulary, and the evidence is attached to it rather than to
    ``current``). Parquet windows are read in record batches, numeric and
    categorical columns straight from Arrow, so a window of precomputed
    feature columns (``text_fields: []``) costs little more than Evidently
    itself. Writes ``drift_report.html`` (Evidently's report) under the
    working folder and returns one ``drift`` evidence record.
    """

    def execute(self, context: StageContext, params: DriftParams) -> StageResult:
        """Measure both windows, run Evidently, and return the ``drift`` evidence."""
        reference_path = _dataset_path(context, "reference")
        current_path = _dataset_path(context, "current")
        seed = params.seed if params.seed is not None else (context.seed or 0)
        settle_heap()
        started = time.perf_counter()
        frames = build_feature_frames(
            reference_path,
            current_path,
            params,
            tokenizer=_tokenizer(context),
            seed=seed,
            progress=context.progress,
            guards=context,
        )
        numeric = frames.schema.numeric_columns
        categorical = frames.schema.categorical_columns
        if not numeric and not categorical:
            raise ValidationError(
                f"the reference {reference_path} has no field to compare: no text field, "
                "number or low-cardinality category (see the text_fields param)"
            )
        context.workdir.mkdir(parents=True, exist_ok=True)
        html_path = context.workdir / REPORT_NAME
        measured = time.perf_counter()
        verdict = run_drift_report(
            frames.reference,
            frames.current,
            numeric=numeric,
            categorical=categorical,
            params=params,
            html_path=html_path,
            heading=lambda verdict: _heading(context, verdict, frames),
        )
        reported = time.perf_counter()
        metrics = _metrics(verdict, frames, params)
        artifacts = {REPORT_NAME: html_path}
        if frames.schema.embedding_fields:
            embedding_html = context.workdir / EMBEDDING_REPORT_NAME
            drifts = run_embedding_drift(frames.embedding_texts, embedding_html, seed)
            metrics["embedding_drift"] = any(d.drifted for d in drifts)
            for drift in drifts:
                prefix = f"column.{drift.field}.embedding"
                metrics[f"{prefix}.score"] = drift.score
                metrics[f"{prefix}.method"] = EMBEDDING_METHOD
                metrics[f"{prefix}.threshold"] = AUC_THRESHOLD
                metrics[f"{prefix}.drifted"] = drift.drifted
                metrics[f"{prefix}.rows_reference"] = drift.rows_reference
                metrics[f"{prefix}.rows_current"] = drift.rows_current
            artifacts[EMBEDDING_REPORT_NAME] = embedding_html
        details = {
            "evidently": f"{evidently.__version__} DataDriftPreset, Report(include_tests=True)",
            "text_fields": list(frames.schema.text_fields),
            "numeric_fields": list(frames.schema.numeric_fields),
            "categorical_fields": list(frames.schema.categorical_fields),
            "ignored_fields": dict(frames.schema.ignored),
            "descriptors": list(frames.schema.descriptors),
            "vocabulary": frames.vocabulary,
            "pii": frames.pii,
            "pii_rows": params.pii_rows,
            "seed": seed,
            "params": {k: v for k, v in params.model_dump().items() if v is not None},
            "summary": _summary(frames),
        }
        subject = "model" if "model" in context.inputs else "current"
        evidence = EvidenceRecord(
            kind=DRIFT_EVIDENCE.name,
            subject=subject,
            metrics=metrics,
            details=details,
            artifacts=artifacts,
        )
        return StageResult(
            evidence=[evidence],
            metrics={
                "drifted_share": verdict.drifted_share,
                "drifted_columns": float(verdict.drifted_columns),
                "dataset_drift": float(verdict.dataset_drift),
            },
            params={k: v for k, v in params.model_dump().items() if v is not None},
            info={
                "report": str(html_path),
                "sampled": frames.sampled,
                # Where the time went: reading + descriptors vs Evidently (+ its HTML).
                "features_seconds": round(measured - started, 3),
                "evidently_seconds": round(reported - measured, 3),
                "embedding_seconds": round(time.perf_counter() - reported, 3),
            },
        )
