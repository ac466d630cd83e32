"""Hook implementations of lmops-evidently: the ``drift`` monitor and its evidence kind.

Evidently and pandas take seconds to import, and every ``lmops`` command loads
all plugins, so the monitor is registered through a light proxy that imports
them only when a drift check actually runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmops_core import hookimpl
from lmops_core.contracts import Register, StageContext, StageResult
from lmops_core.kit import BaseOperation
from lmops_evidently.kinds import DRIFT_EVIDENCE
from lmops_evidently.params import DriftParams

if TYPE_CHECKING:
    from lmops_core.reports import ReportFacts, ReportSection


class DriftOperation(BaseOperation[DriftParams]):
    """Compare a reference and a current window (data, text descriptors, optional embeddings)
    with Evidently's DataDriftPreset.

    This light class is what the plugin registers; the work is done by its subclass
    :class:`lmops_evidently.monitor.DriftMonitor`, imported on first run.
    """

    name = "drift"
    input_roles = {"reference": "dataset", "current": "dataset", "model": "model"}
    evidence_kinds = ("drift",)

    def execute(self, context: StageContext, params: DriftParams) -> StageResult:
        from lmops_evidently.monitor import DriftMonitor

        return DriftMonitor().execute(context, params)


@hookimpl
def register_monitors(register: Register) -> None:
    """Offer the ``drift`` monitor."""
    register(DriftOperation())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``drift`` evidence kind."""
    register(DRIFT_EVIDENCE)


@hookimpl
def lmops_report_sections(facts: ReportFacts) -> list[ReportSection]:
    """The drift baseline section: drift evidence, or the dataset to monitor against."""
    from lmops_evidently.report_section import drift_section

    return [drift_section(facts)]
