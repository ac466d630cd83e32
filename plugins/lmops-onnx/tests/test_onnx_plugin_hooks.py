"""The plugin module registers its compressors and evidence kind through real pluggy hooks."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import lmops_onnx.plugin
import pluggy

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_onnx.plugin)
    pm.check_pending()
    return pm


def test_registers_both_compressors() -> None:
    collected: list[Any] = []
    _manager().hook.register_compressors(register=collected.append)
    assert sorted(op.name for op in collected) == ["onnx-export", "onnx-int8"]
    for op in collected:
        assert isinstance(op, Operation)
        assert op.description


def test_registers_compression_evidence_kind() -> None:
    collected: list[Any] = []
    _manager().hook.register_evidence_kinds(register=collected.append)
    assert len(collected) == 1
    kind = collected[0]
    assert isinstance(kind, EvidenceKind)
    assert kind.name == "compression"
    for metric in ("perplexity_increase_pct", "size_ratio", "greedy_agreement",
                   "latency_p50_ms_after", "quantized_ops_total"):
        assert metric in kind.metrics


def test_entry_point_names_the_plugin_module() -> None:
    found = {ep.name: ep.value for ep in entry_points(group="lmops")}
    assert found.get("onnx") == "lmops_onnx.plugin"
