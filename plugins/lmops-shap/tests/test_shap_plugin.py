"""The plugin module registers its explainer and evidence kind, as the core's host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import hooks_of, registered_by


def test_registers_the_shap_explainer_and_evidence_kind(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_shap.plugin")
    assert hooks_of(host, "lmops_shap.plugin") == {"register_explainers", "register_evidence_kinds"}
    assert registered_by(host, "lmops_shap.plugin") == {
        "operations": ["explainability:shap"],
        "evidence_kinds": ["explanation"],
    }
    assert host.evidence_kind("explanation").metrics["mean_abs_attribution"].type == "number"
