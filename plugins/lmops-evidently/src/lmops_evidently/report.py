"""Running Evidently's data-drift preset on two feature frames and reading its verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
from threadpoolctl import threadpool_limits

from lmops_core.errors import StageError
from lmops_evidently.params import DriftParams
from lmops_evidently.report_head import Heading, headed

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"
BLAS_THREADS = 1
"""BLAS threads while Evidently runs. Its drift tests make small BLAS calls, and OpenBLAS'
worker threads spin waiting for work between them. On a 2-core machine (OpenBLAS' default: two
threads), Evidently's report on two 100k-row windows cost 6.4-7.1 CPU-s on a quiet machine and
4.7 with one thread; at load 5-7, 5.7-5.9 (0.5-0.7 on the worker) against 4.7-5.7. At 1M rows
the difference is within noise (see the plugin's README)."""


@dataclass
class ColumnDrift:
    """One column's drift test as Evidently ran it."""

    column: str
    method: str
    threshold: float
    score: float
    drifted: bool


@dataclass
class DriftVerdict:
    """Evidently's dataset-level result, read from its snapshot."""

    drifted_columns: int
    drifted_share: float
    drift_share_threshold: float
    dataset_drift: bool
    columns: list[ColumnDrift] = field(default_factory=list)


def run_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: list[str],
    categorical: list[str],
    params: DriftParams,
    html_path: Path | None,
    heading: Callable[[DriftVerdict], Heading] | None = None,
) -> DriftVerdict:
    """Run ``DataDriftPreset`` (current first, as Evidently's ``Report.run`` wants it).

    Evidently 0.7's new API has no boolean dataset-drift result; the preset's
    ``DriftedColumnsCount`` test fails exactly when the drifted share reaches
    ``drift_share`` (the legacy rule ``share >= drift_share``), so that test
    is the verdict, and each column's ``ValueDrift`` test says whether that
    column drifted. With ``heading``, the saved page opens with the heading it
    gives for the verdict (written once, not saved and then rewritten). The BLAS libraries
    (OpenBLAS of numpy and scipy) run :data:`BLAS_THREADS` thread while the report is built
    and written, ``heading`` included; their settings are restored afterwards.
    """
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    preset = DataDriftPreset(
        drift_share=params.drift_share,
        method=params.method,
        num_method=params.num_method,
        cat_method=params.cat_method,
        threshold=params.threshold,
    )
    # Constant columns (an OOV rate of zero throughout) make evidently divide 0 by 0
    # while plotting; its verdict is unaffected, so keep the warning out of the logs.
    # Evidently's BLAS calls are small: a second BLAS thread costs more CPU waiting for
    # them than it saves (see BLAS_THREADS).
    with (
        np.errstate(divide="ignore", invalid="ignore"),
        threadpool_limits(limits=BLAS_THREADS, user_api="blas"),
    ):
        snapshot = Report([preset], include_tests=True).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        verdict = read_verdict(snapshot.dict(), params.drift_share)
        if html_path is not None:
            page = snapshot.get_html_str(as_iframe=False)
            if heading is not None:
                page = headed(page, heading(verdict), html_path.name)
            html_path.write_text(page, encoding="utf-8")
    return verdict


def read_verdict(result: dict[str, Any], drift_share: float) -> DriftVerdict:
    """Extract the verdict from ``Snapshot.dict()`` output."""
    statuses: dict[str, str] = {}
    for test in result.get("tests", []):
        metric_id = test.get("metric_config", {}).get("metric_id")
        if metric_id is not None:
            statuses[metric_id] = test["status"]
    columns: list[ColumnDrift] = []
    count: dict[str, float] | None = None
    count_status: str | None = None
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type") == _DRIFTED_COUNT:
            count = metric["value"]
            count_status = statuses.get(metric["id"])
        elif config.get("type") == _VALUE_DRIFT:
            status = statuses.get(metric["id"])
            if status not in ("SUCCESS", "FAIL"):
                raise StageError(
                    f'evidently gave no drift test result for column "{config.get("column")}"'
                    f" (status {status!r})"
                )
            columns.append(
                ColumnDrift(
                    column=config["column"],
                    method=str(config.get("method")),
                    threshold=float(config.get("threshold")),
                    score=float(metric["value"]),
                    drifted=status == "FAIL",
                )
            )
    if count is None or count_status not in ("SUCCESS", "FAIL"):
        raise StageError("evidently's report has no DriftedColumnsCount result")
    return DriftVerdict(
        drifted_columns=int(count["count"]),
        drifted_share=float(count["share"]),
        drift_share_threshold=drift_share,
        dataset_drift=count_status == "FAIL",
        columns=columns,
    )
