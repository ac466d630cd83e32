"""Hook implementations of lmops-shap: the ``shap`` explainer and its evidence kind."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register


@hookimpl
def register_explainers(register: Register) -> None:
    """Offer the ``shap`` explainer."""
    from lmops_shap.explainer import ShapExplainer

    register(ShapExplainer())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``explanation`` evidence kind."""
    from lmops_shap.explainer import EXPLANATION_EVIDENCE

    register(EXPLANATION_EVIDENCE)
