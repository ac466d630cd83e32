"""lmops-lm-eval: evaluation with lm-eval, serving performance, human and LLM-judge ratings.

Public entry points: :mod:`lmops_lm_eval.lm_eval_op` (``LmEvalEvaluator``),
:mod:`lmops_lm_eval.serving_perf`, :mod:`lmops_lm_eval.judge`,
:mod:`lmops_lm_eval.ratings`, :mod:`lmops_lm_eval.suite`, :mod:`lmops_lm_eval.models`.
Importing the package sets the offline switches of the Hugging Face stack and
ONNX Runtime (unless the user set them).
"""

from lmops_lm_eval import _offline  # noqa: F401
