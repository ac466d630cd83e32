"""lmops-lm-eval: evaluation with lm-eval, serving performance, human and LLM-judge ratings.

Public entry points: :mod:`lmops_lm_eval.lm_eval_op` (``LmEvalEvaluator``),
:mod:`lmops_lm_eval.serving_perf`, :mod:`lmops_lm_eval.judge`,
:mod:`lmops_lm_eval.ratings`, :mod:`lmops_lm_eval.suite`, :mod:`lmops_lm_eval.models`.
The offline switches of the Hugging Face stack and ONNX Runtime are set by the
core before it imports any plugin (:mod:`lmops_core.offline`).
"""
