"""The plugin module registers its step and evidence kind through pluggy."""

from __future__ import annotations

import subprocess
import sys

import lmops_presidio.plugin
import pluggy
from lmops_presidio.step import PiiRedactionStep

import lmops_core.hookspecs
from lmops_core.contracts import EvidenceKind, Operation


def plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_presidio.plugin)
    pm.check_pending()
    return pm


def test_registers_the_pii_redact_step() -> None:
    collected: list[object] = []
    plugin_manager().hook.register_data_steps(register=collected.append)
    (step,) = collected
    assert isinstance(step, PiiRedactionStep) and isinstance(step, Operation)
    assert step.name == "pii-redact" and step.description


def test_registers_the_pii_evidence_kind() -> None:
    collected: list[object] = []
    plugin_manager().hook.register_evidence_kinds(register=collected.append)
    (kind,) = collected
    assert isinstance(kind, EvidenceKind) and kind.name == "pii"
    assert kind.metrics["findings_before"].type == "integer"
    assert kind.metrics["findings_after"].type == "integer"
    assert {"records", "records_touched"} <= set(kind.metrics)


def test_plugin_registers_nothing_else() -> None:
    pm = plugin_manager()
    for hook in ("register_trainers", "register_evaluators", "register_policy_checks"):
        collected: list[object] = []
        getattr(pm.hook, hook)(register=collected.append)
        assert collected == []


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


def test_entry_point_names_the_plugin_module() -> None:
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="lmops") if e.name == "presidio"]
    assert entry.value == "lmops_presidio.plugin"
