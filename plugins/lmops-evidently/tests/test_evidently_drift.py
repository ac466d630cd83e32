"""The drift monitor end to end: real JSONL windows, real Evidently, real report."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from lmops_evidently.monitor import DriftMonitor

from lmops_core.datasets.partitions import write_partition
from lmops_core.errors import ValidationError

MakeContext = Any
# The PII descriptor runs presidio's spaCy NER per text; 100 rows per window keep tests quick.
PII = {"pii_rows": 100}

REQUIRED = (
    "dataset_drift",
    "drifted_share",
    "drifted_columns",
    "columns",
    "drift_share_threshold",
    "rows_reference",
    "rows_current",
    "sampled",
    "sample_rows",
    "chunk_size",
)


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory, logs: Any, jsonl: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("windows")
    return {
        "reference": jsonl(folder / "reference.jsonl", logs(1500, seed=1)),
        "same": jsonl(folder / "same.jsonl", logs(1500, seed=2)),
        "shifted": jsonl(folder / "shifted.jsonl", logs(1500, seed=3, shifted=True)),
    }


def heading_of(html: Path) -> dict[str, str]:
    """The report's <title> and the values of its heading, read back from the page."""
    text = html.read_text(encoding="utf-8")
    head = text[: text.lower().index("<body")]
    [title] = re.findall(r"<title>(.*?)</title>", head)
    fields = {
        name: unescape(re.sub(r"<[^>]+>", "", value))
        for name, value in re.findall(r'<dd[^>]*id="lmops-(\w+)"[^>]*>(.*?)</dd>', text)
    }
    # The heading comes first in the body, before Evidently's own page.
    body = text[text.lower().index("<body") :]
    assert body.index('id="lmops-drift-heading"') < body.index("<script")
    return {"title": unescape(title), **fields}


def test_shifted_window_is_reported_as_drift(windows: dict[str, Path], make_context: MakeContext):
    context = make_context(windows["reference"], windows["shifted"], PII)
    result = DriftMonitor().run(context)
    [evidence] = result.evidence
    metrics = evidence.metrics
    assert evidence.kind == "drift" and evidence.subject == "current"
    assert set(REQUIRED) <= set(metrics)
    assert metrics["dataset_drift"] is True
    assert metrics["drifted_share"] >= metrics["drift_share_threshold"] == 0.5
    assert metrics["drifted_columns"] == round(metrics["drifted_share"] * metrics["columns"])
    for column in ("prompt.length", "prompt.lang", "response.refusal", "latency_ms", "route"):
        assert metrics[f"column.{column}.drifted"] is True, column
        assert isinstance(metrics[f"column.{column}.score"], float)
    assert metrics["column.prompt.length.method"] == "Wasserstein distance (normed)"
    assert metrics["column.prompt.lang.method"] == "Jensen-Shannon distance"
    assert metrics["rows_reference"] == metrics["rows_current"] == 1500
    assert metrics["sampled"] is False
    # The high-cardinality request id is left out, and said to be.
    assert "request_id" in evidence.details["ignored_fields"]
    assert not any(name.startswith("column.request_id") for name in metrics)
    assert evidence.details["summary"]["prompt.lang"]["current_shares"] == {"cjk": 1.0}
    heading = heading_of(evidence.artifacts["drift_report.html"])
    current = context.input("current").ref
    assert heading["title"] == f"Drift report of {current}: DRIFT"
    assert heading["model"].startswith("none")
    assert heading["reference"] == f"{context.input('reference').ref} (1,500 rows)"
    assert heading["current"] == f"{current} (1,500 rows)"
    share = f"{metrics['drifted_share']:.2f}"
    assert heading["verdict"] == (
        f"DRIFT: {metrics['drifted_columns']} of {metrics['columns']} columns drifted "
        f"(share {share} >= threshold 0.50)"
    )


def test_window_from_same_distribution_is_not_drift_and_report_is_written(
    windows: dict[str, Path], make_context: MakeContext
):
    context = make_context(windows["reference"], windows["same"], PII)
    [evidence] = DriftMonitor().run(context).evidence
    metrics = evidence.metrics
    assert metrics["dataset_drift"] is False
    assert metrics["drifted_columns"] <= 1
    # The cross-fitted vocabulary keeps the reference's own OOV rate honest.
    assert metrics["column.prompt.oov_rate.drifted"] is False
    html = evidence.artifacts["drift_report.html"]
    assert html.parent == context.workdir and html.is_file()
    text = html.read_text(encoding="utf-8")
    assert "<html" in text[:1000].lower()
    assert "prompt.length" in text and "latency_ms" in text
    # No raw text of the windows reaches the report: only descriptors do.
    assert "help with that" not in text
    heading = heading_of(html)
    assert heading["title"].endswith(": no drift")
    assert heading["verdict"].startswith(f"no drift: {metrics['drifted_columns']} of ")
    assert "< threshold 0.50)" in heading["verdict"]


def test_sampling_is_reported(windows: dict[str, Path], make_context: MakeContext):
    params = {"sample_rows": 400, "seed": 11, "chunk_size": 64, **PII}
    result = DriftMonitor().run(make_context(windows["reference"], windows["shifted"], params))
    metrics = result.evidence[0].metrics
    assert metrics["sampled"] is True and metrics["sample_rows"] == 400
    assert metrics["chunk_size"] == 64
    assert metrics["rows_reference"] == 1500 and metrics["rows_reference_analyzed"] == 400
    assert metrics["rows_current_analyzed"] == 400
    assert metrics["dataset_drift"] is True
    assert result.evidence[0].details["seed"] == 11


def test_partitioned_windows_measure_as_their_one_file_form(
    windows: dict[str, Path], make_context: MakeContext, tmp_path: Path
):
    """A partitioned version is read partition by partition: the same drift as one file."""

    def partitioned(path: Path) -> Path:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        folder = tmp_path / path.stem
        write_partition(rows[:700], folder / "part-0.parquet")
        write_partition(rows[700:], folder / "part-1.parquet")
        return folder

    params = {"sample_rows": 300, "seed": 11, **PII}
    as_file = DriftMonitor().run(make_context(windows["reference"], windows["shifted"], params))
    parts = make_context(partitioned(windows["reference"]), partitioned(windows["shifted"]), params)
    as_parts = DriftMonitor().run(parts)
    assert as_parts.evidence[0].metrics == as_file.evidence[0].metrics
    assert as_parts.evidence[0].metrics["rows_reference"] == 1500


def test_model_role_gets_the_evidence_and_its_tokenizer_vocabulary(
    windows: dict[str, Path], make_context: MakeContext, tmp_path: Path, vocabulary_words: Any
):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(
        [" ".join(vocabulary_words)], trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    )
    model = tmp_path / "model"
    model.mkdir()
    tokenizer.save(str(model / "tokenizer.json"))
    context = make_context(
        windows["reference"], windows["same"], {"sample_rows": 300, **PII}, model
    )
    [evidence] = DriftMonitor().run(context).evidence
    assert evidence.subject == "model"
    assert evidence.details["vocabulary"] == "tokenizer"
    # Every English word of the logs is in this tokenizer's vocabulary.
    assert evidence.details["summary"]["prompt.oov_rate"]["reference_mean"] == 0.0
    # The report names the model it is about, and says the windows were sampled.
    heading = heading_of(evidence.artifacts["drift_report.html"])
    model_ref = context.input("model").ref
    assert heading["model"] == model_ref
    assert heading["title"].startswith(f"Drift report of {model_ref}: ")
    assert heading["current"] == f"{context.input('current').ref} (1,500 rows, 300 sampled)"


def test_unknown_param_is_named(windows: dict[str, Path], make_context: MakeContext):
    context = make_context(windows["reference"], windows["same"], {"sample_row": 10})
    with pytest.raises(ValidationError, match='unknown parameter "sample_row"'):
        DriftMonitor().run(context)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"drift_share": 0}, "drift_share"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"sample_rows": "all"}, "sample_rows"),
        ({"num_method": "chisquare"}, "num_method"),
        ({"method": "no-such-test"}, "method"),
        ({"descriptors": ["length", "sentiment"]}, "descriptors"),
        ({"text_fields": "prompt"}, "text_fields"),
        ({"text_fields": ["question"]}, "text_fields"),
    ],
)
def test_invalid_params_are_named(
    windows: dict[str, Path], make_context: MakeContext, params: dict, named: str
):
    context = make_context(windows["reference"], windows["same"], params)
    with pytest.raises(ValidationError, match=f'param(eter)? "{named}"') as caught:
        DriftMonitor().run(context)
    assert caught.value.details["param"] == named


def test_current_value_of_wrong_type_names_file_line_and_field(
    windows: dict[str, Path], make_context: MakeContext, tmp_path: Path, logs: Any, jsonl: Any
):
    records = logs(5, seed=4)
    records[3]["latency_ms"] = "slow"
    current = jsonl(tmp_path / "bad.jsonl", records)
    with pytest.raises(ValidationError, match=r'bad\.jsonl, line 4: field "latency_ms"'):
        DriftMonitor().run(make_context(windows["reference"], current, PII))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b'{"prompt": "hi"}\n{"prompt": \n', r"broken\.jsonl, line 2: not valid JSON"),
        # Arrow's JSON reader would read two records here; the window is parsed line by line.
        (b'{"prompt": "hi"} {"prompt": "ho"}\n', r"broken\.jsonl, line 1: not valid JSON"),
        (b'{"prompt": "hi"}\n[1, 2]\n', r"line 2: expected a JSON object, got list"),
        (b'{"prompt": "hi"}\n{"prompt": "\xff"}\n', r"broken\.jsonl, line 2: not valid JSON"),
        # Invalid UTF-8 in a field no descriptor reads, after a blank line: refused all the same.
        (
            b'{"prompt": "hi"}\n\n{"prompt": "ho", "note": "\xfe"}\n',
            r"broken\.jsonl, line 3: not valid JSON \(invalid UTF-8",
        ),
        (b"\n", "current window .* has no records"),
    ],
)
def test_broken_current_window_is_refused_naming_the_line(
    windows: dict[str, Path], make_context: MakeContext, tmp_path: Path, content: bytes, match: str
):
    current = tmp_path / "broken.jsonl"
    current.write_bytes(content)
    with pytest.raises(ValidationError, match=match):
        DriftMonitor().run(make_context(windows["reference"], current, PII))


def test_evidently_runs_with_one_blas_thread_and_the_setting_is_restored(tmp_path: Path):
    """While the report is built and written (its heading included) the BLAS libraries run
    BLAS_THREADS thread; afterwards they have their own thread counts back."""
    import numpy as np
    import pandas as pd
    from lmops_evidently.params import parse_params
    from lmops_evidently.report import BLAS_THREADS, DriftVerdict, run_drift_report
    from lmops_evidently.report_head import Heading, Window
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    seen: list[list[int]] = []

    def heading(verdict: DriftVerdict) -> Heading:
        seen.append(blas_threads())
        window = Window("ref", 400, 400)
        return Heading("Drift report", None, window, window, verdict.dataset_drift, "x")

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=400)})
    current = pd.DataFrame({"x": rng.normal(1.0, size=400)})
    params = parse_params({})
    # Two threads before the run where OpenBLAS allows it, so that the restore shows.
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        verdict = run_drift_report(
            reference,
            current,
            numeric=["x"],
            categorical=[],
            params=params,
            html_path=tmp_path / "report.html",
            heading=heading,
        )
        after = blas_threads()
    assert before  # numpy's OpenBLAS at least
    assert seen == [[BLAS_THREADS] * len(before)]
    assert after == before
    assert verdict.drifted_columns == 1
    assert (tmp_path / "report.html").is_file()
