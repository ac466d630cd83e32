"""lmops-presidio's tests never reach the network; contexts come from lmops_core.testing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lmops_presidio.step import PiiRedactionStep

from lmops_core.contracts import StageContext
from lmops_core.testing import StageContexts, dataset_input, write_jsonl


@pytest.fixture(autouse=True)
def _offline(no_network: list[object]) -> Iterator[list[object]]:
    """tldextract swallows a failed download: the kit's ``no_network`` records every attempt."""
    yield no_network


@pytest.fixture
def jsonl(tmp_path: Path) -> Callable[..., Path]:
    """``jsonl(records, name="in.jsonl")``: a JSONL file under tmp_path."""
    return lambda records, name="in.jsonl": write_jsonl(tmp_path / name, records)


@pytest.fixture
def make_context(stage_context: StageContexts) -> Callable[..., StageContext]:
    """``make_context(path, shape, params=None, meta=None)``: a pii-redact context over a
    dataset file, its parameters unchecked (the step's own checks are under test); the
    dataset declares ``meta`` (default: ``{"locale": "en-US"}``)."""

    def make(
        path: Path,
        shape: str,
        params: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> StageContext:
        dataset = dataset_input(path, shape=shape)
        dataset = replace(dataset, metadata={"locale": "en-US"} if meta is None else meta)
        return stage_context(PiiRedactionStep(), {"dataset": dataset}, params, validate=False)

    return make
