"""Hook implementations of lmops-lm-eval: four evaluators and three evidence kinds."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_lm_eval.evidence_kinds import ALL_KINDS


@hookimpl
def register_evaluators(register: Register) -> None:
    """Offer "lm-eval", "serving-perf", "judge" and "ratings"."""
    from lmops_lm_eval.judge import JudgeEvaluator
    from lmops_lm_eval.lm_eval_op import LmEvalEvaluator
    from lmops_lm_eval.ratings_op import HumanRatingsEvaluator
    from lmops_lm_eval.serving_perf import ServingPerfEvaluator

    for evaluator in (
        LmEvalEvaluator(),
        ServingPerfEvaluator(),
        JudgeEvaluator(),
        HumanRatingsEvaluator(),
    ):
        register(evaluator)


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the "eval", "serving_perf" and "ratings" evidence kinds."""
    for kind in ALL_KINDS:
        register(kind)
