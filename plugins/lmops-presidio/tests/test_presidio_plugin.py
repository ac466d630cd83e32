"""The plugin module registers its step, evidence kind and guard, as the core's host sees them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from lmops_presidio.step import PiiRedactionStep

from lmops_core.contracts import Stage
from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


@pytest.fixture
def host(load_plugin: Callable[..., PluginHost]) -> PluginHost:
    return load_plugin("lmops_presidio.plugin")


def test_registers_the_pii_step_evidence_kind_and_guard_and_nothing_else(host: PluginHost) -> None:
    assert registered_by(host, "lmops_presidio.plugin") == {
        "operations": ["data_preparation:pii-redact"],
        "evidence_kinds": ["pii"],
        "guards": ["pii"],
    }
    assert isinstance(host.operation(Stage.DATA_PREPARATION, "pii-redact").value, PiiRedactionStep)


def test_pii_evidence_is_integer_counts_with_four_headlines(host: PluginHost) -> None:
    metrics = host.evidence_kind("pii").metrics
    assert {name: metric.type for name, metric in metrics.items()} == dict.fromkeys(
        [
            "findings_before",
            "findings_after",
            "records_touched",
            "records",
            "fields",
            "fields_touched",
            "before.*",
            "after.*",
        ],
        "integer",
    )
    assert sorted(name for name, metric in metrics.items() if metric.headline) == [
        "findings_after",
        "findings_before",
        "records",
        "records_touched",
    ]
    assert metrics["findings_after"].direction == "lower"


def test_registering_does_not_import_presidio_or_spacy() -> None:
    # The CLI registers every plugin at start; heavy imports wait for a run.
    code = (
        "import sys, pluggy, lmops_core.hookspecs, lmops_presidio.plugin as p\n"
        "pm = pluggy.PluginManager('lmops'); pm.add_hookspecs(lmops_core.hookspecs)\n"
        "pm.register(p); pm.hook.register_data_steps(register=print)\n"
        "print(sorted(m for m in ('presidio_analyzer', 'spacy', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
