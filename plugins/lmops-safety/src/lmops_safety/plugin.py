"""Hook implementations of lmops-safety: the ``safety`` and ``guard-probe`` evaluators and
their evidence kinds.

They live in :mod:`lmops_safety.evaluator`, :mod:`lmops_safety.guarded` and
:mod:`lmops_safety.evidence`, imported
when the hooks are called.
"""

from __future__ import annotations

from lmops_core.kit import registers

register_evaluators = registers(
    "lmops_safety.evaluator:SafetyEvaluator", "lmops_safety.guarded:GuardProbeEvaluator"
)
register_evidence_kinds = registers(
    "lmops_safety.evidence:SAFETY_EVIDENCE", "lmops_safety.evidence:GUARD_PROBE_EVIDENCE"
)
