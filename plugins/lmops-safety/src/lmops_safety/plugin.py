"""Hook implementations of lmops-safety: the ``safety`` evaluator and its evidence kind.

They live in :mod:`lmops_safety.evaluator` and :mod:`lmops_safety.evidence`, imported
when the hooks are called.
"""

from __future__ import annotations

from lmops_core.kit import registers

register_evaluators = registers("lmops_safety.evaluator:SafetyEvaluator")
register_evidence_kinds = registers("lmops_safety.evidence:SAFETY_EVIDENCE")
