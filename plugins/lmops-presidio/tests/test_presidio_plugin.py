"""The plugin module registers its step, evidence kind and guard, as the core's host sees them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from lmops_presidio.step import PiiRedactionStep

from lmops_core.contracts import Stage
from lmops_core.plugins import PluginHost
from lmops_core.testing import registered_by


def test_registers_the_pii_step_evidence_kind_and_guard_and_nothing_else(
    load_plugin: Callable[..., PluginHost],
) -> None:
    host = load_plugin("lmops_presidio.plugin")
    assert registered_by(host, "lmops_presidio.plugin") == {
        "operations": ["data_preparation:pii-redact"],
        "evidence_kinds": ["pii"],
        "guards": ["pii"],
    }
    assert isinstance(host.operation(Stage.DATA_PREPARATION, "pii-redact").value, PiiRedactionStep)
    kind = host.evidence_kind("pii")
    assert kind.metrics["findings_before"].type == "integer"
    assert kind.metrics["findings_after"].type == "integer"
    assert {"records", "records_touched"} <= set(kind.metrics)


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
