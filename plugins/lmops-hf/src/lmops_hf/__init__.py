"""lmops-hf: training, base models and generation on Hugging Face transformers + PEFT.

Importing the package sets the offline switches of the Hugging Face libraries
(unless the user set them already), so nothing here ever reaches a model or
dataset hub: every model is built locally or read from a folder.
"""

from __future__ import annotations

import os

# Before transformers / huggingface_hub are imported anywhere through us: they read these at
# import time, and a governed pipeline must never fetch weights or datasets behind our back.
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
