"""Environment defaults that keep this plugin's libraries off the network."""

from __future__ import annotations

import os

from lmops_core.offline import set_offline_defaults


def apply_offline_defaults() -> None:
    """Set offline switches unless the user chose otherwise (``setdefault`` keeps theirs)."""
    set_offline_defaults()
    # evidently's telemetry (evidently/telemetry.py) is on unless DO_NOT_TRACK is set.
    os.environ.setdefault("DO_NOT_TRACK", "1")
