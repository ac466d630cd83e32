"""Prompt versions as something a model is run with: their checked form and how they render.

:class:`PromptSpec` is a prompt version's content (template, declared variables, system
prompt); an operation reads the one under an input role with :func:`prompt_of` and renders
each item of its suite through it. :mod:`lmops_core.prompts.variants` makes variants of a
prompt by rules; :mod:`lmops_core.prompts.tuning` evaluates them and keeps the best.
"""

from __future__ import annotations

from lmops_core.prompts.evaluation import PROMPT_ROLE, PromptedRun
from lmops_core.prompts.spec import PromptSpec, prompt_of
from lmops_core.prompts.tuning import (
    CANDIDATE_ALIAS,
    EvaluationRun,
    OptimisationResult,
    Trial,
    VariantRules,
    optimise_prompt,
)

__all__ = [
    "CANDIDATE_ALIAS",
    "PROMPT_ROLE",
    "EvaluationRun",
    "OptimisationResult",
    "PromptSpec",
    "PromptedRun",
    "Trial",
    "VariantRules",
    "optimise_prompt",
    "prompt_of",
]
