"""The plugin module registers its monitor and evidence kind, as the core's host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import hooks_of, registered_by


def test_registers_the_drift_monitor_and_evidence_kind(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_evidently.plugin")
    assert hooks_of(host, "lmops_evidently.plugin") == {
        "register_monitors",
        "register_evidence_kinds",
        "lmops_report_sections",
    }
    assert registered_by(host, "lmops_evidently.plugin") == {
        "operations": ["monitoring:drift"],
        "evidence_kinds": ["drift"],
    }
    kind = host.evidence_kind("drift")
    assert kind.metrics["dataset_drift"].type == "boolean"
    assert kind.metrics["drifted_share"].type == "number"
    assert kind.metrics["rows_current"].type == "integer"
