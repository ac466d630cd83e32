"""The plugin module registers its trainers and evidence kind through real pluggy hooks."""

from __future__ import annotations

from typing import Any

import lmops_hf.plugin
import pluggy

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def test_hookimpls_register_trainers_and_training_evidence() -> None:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_hf.plugin)
    pm.check_pending()

    trainers: list[Any] = []
    pm.hook.register_trainers(register=trainers.append)
    assert sorted(t.name for t in trainers) == ["create-base", "dpo", "sft"]
    assert all(isinstance(t, Operation) and t.description for t in trainers)

    kinds: list[Any] = []
    pm.hook.register_evidence_kinds(register=kinds.append)
    assert [k.name for k in kinds] == ["training"]
    assert isinstance(kinds[0], EvidenceKind)
    assert kinds[0].metrics["trainable_fraction"].type == "number"
