"""The plugin module registers its evaluator and evidence kind through real pluggy hooks."""

from __future__ import annotations

import lmops_safety.plugin
import pluggy

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_safety.plugin)
    pm.check_pending()
    return pm


def test_registers_the_safety_evaluator() -> None:
    collected: list[object] = []
    _manager().hook.register_evaluators(register=collected.append)
    [evaluator] = collected
    assert isinstance(evaluator, Operation)
    assert evaluator.name == "safety" and evaluator.description


def test_registers_the_safety_evidence_kind() -> None:
    collected: list[object] = []
    _manager().hook.register_evidence_kinds(register=collected.append)
    [kind] = collected
    assert isinstance(kind, EvidenceKind) and kind.name == "safety"
    assert kind.metrics["refusal_rate"].type == "number"
