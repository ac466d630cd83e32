"""Hook implementations of lmops-shap: the ``shap`` explainer and its evidence kind.

Both live in :mod:`lmops_shap.explainer`, imported when the hooks are called.
"""

from __future__ import annotations

from lmops_core.kit import registers

register_explainers = registers("lmops_shap.explainer:ShapExplainer")
register_evidence_kinds = registers("lmops_shap.explainer:EXPLANATION_EVIDENCE")
