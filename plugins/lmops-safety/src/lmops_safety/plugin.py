"""Hook implementations of lmops-safety: the ``safety`` evaluator and its evidence kind."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register


@hookimpl
def register_evaluators(register: Register) -> None:
    """Offer the ``safety`` evaluator."""
    from lmops_safety.evaluator import SafetyEvaluator

    register(SafetyEvaluator())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``safety`` evidence kind."""
    from lmops_safety.evaluator import SAFETY_EVIDENCE

    register(SAFETY_EVIDENCE)
