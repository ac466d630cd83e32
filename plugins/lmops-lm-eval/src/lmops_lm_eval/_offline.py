"""Keep the Hugging Face stack and ONNX Runtime off the network.

Imported by the package's ``__init__``, so the settings are in place before any
submodule imports transformers, datasets, lm-eval or onnxruntime.
``setdefault`` leaves a value the user set on purpose alone.
"""

from __future__ import annotations

import os

from lmops_core.offline import set_offline_defaults

set_offline_defaults()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
