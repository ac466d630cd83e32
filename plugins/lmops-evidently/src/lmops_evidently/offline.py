"""Environment defaults that keep this plugin's libraries off the network."""

from __future__ import annotations

import os

_OFFLINE_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    # evidently's telemetry (evidently/telemetry.py) is on unless DO_NOT_TRACK is set.
    "DO_NOT_TRACK": "1",
}


def apply_offline_defaults() -> None:
    """Set offline switches unless the user chose otherwise (``setdefault`` keeps theirs)."""
    for name, value in _OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
