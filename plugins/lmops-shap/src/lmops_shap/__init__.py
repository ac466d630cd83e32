"""lmops-shap: SHAP token attributions for what a language model answers.

Importing the package sets the offline switches of the libraries it drives
(unless the user set them already): nothing here reaches a model hub.
"""

from __future__ import annotations

from lmops_core.offline import set_offline_defaults

set_offline_defaults()

__version__ = "0.1.0"
