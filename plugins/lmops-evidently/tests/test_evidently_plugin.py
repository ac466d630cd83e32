"""The plugin module registers its monitor and evidence kind through real pluggy hooks."""

from __future__ import annotations

from typing import Any

import lmops_evidently.plugin
import pluggy

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def _manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("lmops")
    manager.add_hookspecs(lmops_core.hookspecs)
    manager.register(lmops_evidently.plugin)
    manager.check_pending()
    return manager


def test_register_monitors_offers_drift():
    collected: list[Any] = []
    _manager().hook.register_monitors(register=collected.append)
    [monitor] = collected
    assert isinstance(monitor, Operation)
    assert monitor.name == "drift" and monitor.description


def test_register_evidence_kinds_declares_drift_metrics():
    collected: list[Any] = []
    _manager().hook.register_evidence_kinds(register=collected.append)
    [kind] = collected
    assert isinstance(kind, EvidenceKind) and kind.name == "drift"
    assert kind.metrics["dataset_drift"].type == "boolean"
    assert kind.metrics["drifted_share"].type == "number"
    assert kind.metrics["rows_current"].type == "integer"


def test_plugin_is_exposed_through_the_lmops_entry_point():
    from importlib.metadata import entry_points

    [entry] = [e for e in entry_points(group="lmops") if e.name == "evidently"]
    assert entry.load() is lmops_evidently.plugin
