"""Hook implementations of lmops-shap: the ``shap`` explainer and its evidence kind."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_shap.explainer import EXPLANATION_EVIDENCE, ShapExplainer


@hookimpl
def register_explainers(register: Register) -> None:
    """Offer the ``shap`` explainer."""
    register(ShapExplainer())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``explanation`` evidence kind."""
    register(EXPLANATION_EVIDENCE)
