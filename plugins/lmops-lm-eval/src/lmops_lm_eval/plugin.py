"""Hook implementations of lmops-lm-eval: four evaluators and three evidence kinds.

The evaluators ("lm-eval", "serving-perf", "judge", "ratings") are imported when
the hook is called; the kinds are "eval", "serving_perf" and "ratings".
"""

from __future__ import annotations

from lmops_core.kit import registers

register_evaluators = registers(
    "lmops_lm_eval.lm_eval_op:LmEvalEvaluator",
    "lmops_lm_eval.serving_perf:ServingPerfEvaluator",
    "lmops_lm_eval.judge:JudgeEvaluator",
    "lmops_lm_eval.ratings_op:HumanRatingsEvaluator",
)
register_evidence_kinds = registers("lmops_lm_eval.evidence_kinds:ALL_KINDS")
