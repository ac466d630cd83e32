"""Hook implementations of lmops-evidently: the ``drift`` monitor and its evidence kind."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_evidently.monitor import DRIFT_EVIDENCE, DriftMonitor
from lmops_evidently.offline import apply_offline_defaults

apply_offline_defaults()


@hookimpl
def register_monitors(register: Register) -> None:
    """Offer the ``drift`` monitor."""
    register(DriftMonitor())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``drift`` evidence kind."""
    register(DRIFT_EVIDENCE)
