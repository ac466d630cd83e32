"""Hook implementations of lmops-optuna (kept light: Optuna is imported only by a run)."""

from __future__ import annotations

from lmops_core.kit import registers, report_sections
from lmops_optuna.evidence import HELDOUT_LOSS, SWEEP

#: The "sweep" training operation: an Optuna search whose trials are runs of a trainer.
register_trainers = registers("lmops_optuna.sweep:Sweep")

#: "heldout-loss": mean loss per response token of a model on a held-out dataset.
register_evaluators = registers("lmops_optuna.heldout:HeldoutLoss")

register_evidence_kinds = registers(SWEEP, HELDOUT_LOSS)

#: The "Hyperparameter sweep" section of the validation report (links the HTML report).
lmops_report_sections = report_sections("lmops_optuna.report_section:sweep_section")
