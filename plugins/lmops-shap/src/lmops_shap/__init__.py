"""lmops-shap: SHAP token attributions for what a language model answers.

Nothing here reaches a model hub; the offline switches of the libraries it
drives are set by the core before it imports any plugin (:mod:`lmops_core.offline`).
"""

from __future__ import annotations

__version__ = "0.1.0"
