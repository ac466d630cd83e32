"""lmops-hf: training, base models and generation on Hugging Face transformers + PEFT.

Importing the package sets the offline switches of the Hugging Face libraries
(unless the user set them already), so nothing here ever reaches a model or
dataset hub: every model is built locally or read from a folder.
"""

from __future__ import annotations

import os

from lmops_core.offline import set_offline_defaults

# Before transformers / huggingface_hub are imported anywhere through us: they read these at
# import time, and a governed pipeline must never fetch weights or datasets behind our back.
set_offline_defaults()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
