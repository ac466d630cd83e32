"""The plugin module registers its evaluators and evidence kinds, as the core's host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


def test_registers_the_safety_and_guard_probe_evaluators_and_their_evidence_kinds(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_safety.plugin")
    assert registered_by(host, "lmops_safety.plugin") == {
        "operations": ["evaluation:guard-probe", "evaluation:safety"],
        "evidence_kinds": ["guard_probe", "safety"],
    }
    assert host.evidence_kind("safety").metrics["refusal_rate"].type == "number"
    assert host.evidence_kind("guard_probe").metrics["over_refusal_rate"].direction == "lower"
