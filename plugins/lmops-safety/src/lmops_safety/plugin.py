"""Hook implementations of lmops-safety: the ``safety``, ``guard-probe`` and ``tc260``
evaluators and their evidence kinds.

They live in :mod:`lmops_safety.evaluator`, :mod:`lmops_safety.guarded`,
:mod:`lmops_safety.compliance_op` and the evidence modules, imported when the hooks are
called.
"""

from __future__ import annotations

from lmops_core.kit import registers

register_evaluators = registers(
    "lmops_safety.evaluator:SafetyEvaluator",
    "lmops_safety.guarded:GuardProbeEvaluator",
    "lmops_safety.compliance_op:Tc260Evaluator",
)
register_evidence_kinds = registers(
    "lmops_safety.evidence:SAFETY_EVIDENCE",
    "lmops_safety.evidence:GUARD_PROBE_EVIDENCE",
    "lmops_safety.compliance_evidence:COMPLIANCE_KINDS",
)
