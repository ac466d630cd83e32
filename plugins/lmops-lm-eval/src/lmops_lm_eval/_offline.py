"""Keep the Hugging Face stack and ONNX Runtime off the network.

Imported by the package's ``__init__``, so the settings are in place before any
submodule imports transformers, datasets, lm-eval or onnxruntime.
``setdefault`` leaves a value the user set on purpose alone.
"""

from __future__ import annotations

import os

for _name in (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "ORT_DISABLE_TELEMETRY",
):
    os.environ.setdefault(_name, "1")
# datasets' usage counter and the hub's telemetry are separate switches.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
