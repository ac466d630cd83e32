"""The plugin module registers its evaluator and evidence kind, as the core's host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


def test_registers_the_safety_evaluator_and_evidence_kind(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_safety.plugin")
    assert registered_by(host, "lmops_safety.plugin") == {
        "operations": ["evaluation:safety"],
        "evidence_kinds": ["safety"],
    }
    assert host.evidence_kind("safety").metrics["refusal_rate"].type == "number"
