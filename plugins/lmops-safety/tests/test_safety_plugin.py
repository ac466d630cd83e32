"""The plugin module registers its evaluators and evidence kinds, as the core's host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


def test_registers_the_evaluators_and_evidence_kinds(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_safety.plugin")
    assert registered_by(host, "lmops_safety.plugin") == {
        "operations": ["evaluation:guard-probe", "evaluation:safety", "evaluation:tc260"],
        "evidence_kinds": [
            "content_sample",
            "corpus_sample",
            "guard_probe",
            "keyword_library",
            "refusal_sample",
            "safety",
        ],
    }
    assert host.evidence_kind("safety").metrics["refusal_rate"].type == "number"
    assert host.evidence_kind("guard_probe").metrics["over_refusal_rate"].direction == "lower"
    # The metric names the cn-tc260-003 pack's conditions read.
    assert host.evidence_kind("refusal_sample").metrics["must_not_refuse_rate"].direction == "lower"
    assert host.evidence_kind("keyword_library").metrics["entries"].type == "integer"
