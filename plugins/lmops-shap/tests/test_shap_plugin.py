"""The plugin module registers its explainer and evidence kind through real pluggy hooks."""

from __future__ import annotations

import lmops_shap.plugin
import pluggy

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_shap.plugin)
    pm.check_pending()
    return pm


def test_registers_the_shap_explainer() -> None:
    collected: list[object] = []
    _manager().hook.register_explainers(register=collected.append)
    [explainer] = collected
    assert isinstance(explainer, Operation)
    assert explainer.name == "shap" and explainer.description


def test_registers_the_explanation_evidence_kind() -> None:
    collected: list[object] = []
    _manager().hook.register_evidence_kinds(register=collected.append)
    [kind] = collected
    assert isinstance(kind, EvidenceKind) and kind.name == "explanation"
    assert kind.metrics["mean_abs_attribution"].type == "number"
