"""The plugin module registers its trainers, evidence kind and runtimes, as the host sees them."""

from __future__ import annotations

from collections.abc import Callable

from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


def test_registers_trainers_training_evidence_and_torch_runtimes(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_hf.plugin")
    assert registered_by(host, "lmops_hf.plugin") == {
        "operations": ["training:create-base", "training:dpo", "training:sft"],
        "evidence_kinds": ["training"],
        "model_runtimes": ["adapter", "base", "full", "merged"],
    }
    assert host.evidence_kind("training").metrics["trainable_fraction"].type == "number"
    assert host.model_runtime("adapter").needs_base
    assert all(host.model_runtime(k).tiny is not None for k in ("adapter", "base", "full"))
