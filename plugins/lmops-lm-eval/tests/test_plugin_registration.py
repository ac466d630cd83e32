"""The plugin module registers its evaluators and evidence kinds through pluggy."""

from __future__ import annotations

import socket

import lmops_lm_eval.plugin
import pluggy
import pytest

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def test_hooks_register_evaluators_and_kinds() -> None:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_lm_eval.plugin)
    pm.check_pending()
    evaluators: list[Operation] = []
    kinds: list[EvidenceKind] = []
    pm.hook.register_evaluators(register=evaluators.append)
    pm.hook.register_evidence_kinds(register=kinds.append)
    assert sorted(e.name for e in evaluators) == ["judge", "lm-eval", "ratings", "serving-perf"]
    assert all(isinstance(e, Operation) and e.description for e in evaluators)
    assert sorted(k.name for k in kinds) == ["eval", "ratings", "serving_perf"]
    perf = next(k for k in kinds if k.name == "serving_perf")
    assert {"ttft_ms_p50", "itl_ms_p50", "tokens_per_s", "runtime"} <= set(perf.metrics)


def test_the_network_is_blocked_in_these_tests(no_network: list[object]) -> None:
    with pytest.raises(OSError, match="network access attempted"):
        socket.socket().connect(("203.0.113.1", 443))
    assert no_network == [("203.0.113.1", 443)]
    no_network.clear()  # seen and refused: the kit's check at teardown would fail the test
