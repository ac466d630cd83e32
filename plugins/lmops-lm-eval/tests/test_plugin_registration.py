"""The plugin module registers its evaluators and evidence kinds, as the core's host sees them."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


def test_registers_evaluators_and_kinds(load_plugin: Callable[..., PluginHost]) -> None:
    host = load_plugin("lmops_lm_eval.plugin")
    assert registered_by(host, "lmops_lm_eval.plugin") == {
        "operations": [
            "evaluation:judge",
            "evaluation:lm-eval",
            "evaluation:ratings",
            "evaluation:serving-perf",
        ],
        "evidence_kinds": ["eval", "ratings", "serving_perf"],
    }
    perf = host.evidence_kind("serving_perf")
    assert {"ttft_ms_p50", "itl_ms_p50", "tokens_per_s", "runtime"} <= set(perf.metrics)


def test_the_network_is_blocked_in_these_tests(no_network: list[object]) -> None:
    with pytest.raises(OSError, match="network access attempted"):
        socket.socket().connect(("203.0.113.1", 443))
    assert no_network == [("203.0.113.1", 443)]
    no_network.clear()  # seen and refused: the kit's check at teardown would fail the test
