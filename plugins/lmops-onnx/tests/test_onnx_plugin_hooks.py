"""The plugin module registers its compressors, evidence kind and runtimes, as the host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import hooks_of, registered_by


def test_registers_compressors_evidence_kind_and_runtimes(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_onnx.plugin")
    assert hooks_of(host, "lmops_onnx.plugin") == {
        "register_compressors",
        "register_evidence_kinds",
        "register_model_runtimes",
        "lmops_report_sections",
    }
    assert registered_by(host, "lmops_onnx.plugin") == {
        "operations": ["compression:onnx-export", "compression:onnx-int8"],
        "evidence_kinds": ["compression"],
        "model_runtimes": ["onnx", "onnx-int8"],
    }
    kind = host.evidence_kind("compression")
    for metric in (
        "perplexity_increase_pct",
        "size_ratio",
        "greedy_agreement",
        "latency_p50_ms_after",
        "quantized_ops_total",
    ):
        assert metric in kind.metrics
    assert all(host.model_runtime(k).tiny is not None for k in ("onnx", "onnx-int8"))
