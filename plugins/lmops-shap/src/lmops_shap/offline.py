"""Keep every library this plugin loads away from the network."""

from __future__ import annotations

import os

_OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # onnxruntime's native telemetry only honours this if set before its import.
    "ORT_DISABLE_TELEMETRY": "1",
}


def set_offline_defaults() -> None:
    """Set the offline switches unless the user chose otherwise (setdefault)."""
    for name, value in _OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
