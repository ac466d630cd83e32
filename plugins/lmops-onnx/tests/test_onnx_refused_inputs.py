"""Inputs the ONNX operations refuse before any work, each refusal naming what is wrong."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lmops_onnx.operations import OnnxExport, OnnxInt8

from lmops_core.contracts import StageContext
from lmops_core.errors import LmopsError, StageError, ValidationError


@pytest.mark.parametrize(
    ("operation", "kind", "folder", "params", "error", "message"),
    [
        ("onnx-export", "onnx", "onnx_dir", {}, ValidationError, "kind 'onnx'"),
        ("onnx-export", "adapter", "adapter_dir", {}, StageError, 'role "base"'),
        ("onnx-int8", "onnx", "onnx_dir", {"mode": "static"}, StageError, 'role "calibration"'),
        ("onnx-int8", "onnx-int8", "int8_dir", {}, ValidationError, "kind 'onnx-int8'"),
    ],
)
def test_refused_input_is_named(
    request: pytest.FixtureRequest,
    context_factory: Callable[..., StageContext],
    operation: str,
    kind: str,
    folder: str,
    params: dict[str, str],
    error: type[LmopsError],
    message: str,
) -> None:
    """An export of an export, an adapter without its base, static int8 without calibration
    data, int8 of an int8 model."""
    inputs = {"model": ("model", kind, request.getfixturevalue(folder))}
    ctx = context_factory(operation, inputs, params)
    run = OnnxExport().run if operation == "onnx-export" else OnnxInt8().run
    with pytest.raises(error, match=message):
        run(ctx)
