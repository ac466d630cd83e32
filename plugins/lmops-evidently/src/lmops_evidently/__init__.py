"""lmops-evidently: drift monitoring of datasets and inference logs through Evidently.

Public API: :class:`DriftMonitor` (the ``drift`` operation), :data:`DRIFT_EVIDENCE`,
:func:`build_feature_frames` (the descriptor frames the monitor hands to Evidently)
and :func:`parse_params`.
"""

from typing import Any

__all__ = [
    "DRIFT_EVIDENCE",
    "DriftMonitor",
    "DriftParams",
    "FeatureFrames",
    "build_feature_frames",
    "parse_params",
]

_HOMES = {
    "DRIFT_EVIDENCE": "lmops_evidently.kinds",
    "DriftMonitor": "lmops_evidently.monitor",
    "DriftParams": "lmops_evidently.params",
    "parse_params": "lmops_evidently.params",
    "FeatureFrames": "lmops_evidently.frames",
    "build_feature_frames": "lmops_evidently.frames",
}


def __getattr__(name: str) -> Any:
    # Lazy: importing the package (as plugin discovery does) must not import Evidently.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)
