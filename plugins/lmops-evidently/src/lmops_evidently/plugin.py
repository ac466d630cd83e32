"""Hook implementations of lmops-evidently: the ``drift`` monitor and its evidence kind.

Evidently and pandas take seconds to import, and every ``lmops`` command loads
all plugins, so the monitor is registered through a light proxy that imports
them only when a drift check actually runs.
"""

from __future__ import annotations

from lmops_core.contracts import StageContext, StageResult
from lmops_core.kit import BaseOperation, registers, report_sections
from lmops_evidently.kinds import DRIFT_EVIDENCE
from lmops_evidently.params import DriftParams


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


register_monitors = registers(DriftOperation)
register_evidence_kinds = registers(DRIFT_EVIDENCE)
#: The drift baseline section: drift evidence, or the dataset to monitor against.
lmops_report_sections = report_sections("lmops_evidently.report_section:drift_section")
