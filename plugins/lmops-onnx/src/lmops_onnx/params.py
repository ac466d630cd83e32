"""Declared parameters of the compressors (pydantic models the core validates runs against).

Unknown or ill-typed parameters are refused by the core before a run starts, with
an error naming the parameter, so a typo in a pipeline file never silently falls
back to a default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lmops_core.contracts import OperationParams


class ExportParams(OperationParams):
    """Parameters of ``onnx-export`` (and the measurements every compressor makes)."""

    opset: int = Field(18, ge=18, le=23, description="ONNX opset of the exported graph")
    threads: int | None = Field(
        None, ge=1, description="intra-op threads for ORT and torch (default: library's)"
    )
    latency_repeats: int = Field(
        5, ge=1, le=1000, description="passes over the prompt set when timing"
    )
    max_eval_records: int = Field(32, ge=1, description="held-out records used for perplexity")
    max_eval_tokens: int = Field(128, ge=2, description="tokens kept per held-out record")


class Int8Params(ExportParams):
    """Parameters of ``onnx-int8``."""

    mode: Literal["dynamic", "static"] = Field(
        "dynamic", description="dynamic (no data) or static (calibrated)"
    )
    per_channel: bool = Field(False, description="one weight scale per output channel")
    reduce_range: bool | None = Field(
        None,
        description="7-bit weights; unset: on for x86 CPUs without VNNI, where ONNX "
        "Runtime's 8-bit integer kernels can saturate",
    )
    calibration_records: int = Field(
        32, ge=1, description="records read from the calibration dataset"
    )
