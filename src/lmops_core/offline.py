"""The switches that keep ML libraries away from the network, for plugins to apply.

Plugins call :func:`set_offline_defaults` before importing Hugging Face libraries
or onnxruntime; values a user set explicitly are kept (``setdefault``).
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # onnxruntime's native telemetry only honours this if set before its import.
    "ORT_DISABLE_TELEMETRY": "1",
}


def set_offline_defaults() -> None:
    """Set the offline switches unless the user chose otherwise."""
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
