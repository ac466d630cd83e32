"""lmops-evidently: drift monitoring of datasets and inference logs through Evidently.

Public API: :class:`DriftMonitor` (the ``drift`` operation), :data:`DRIFT_EVIDENCE`,
:func:`build_feature_frames` (the descriptor frames the monitor hands to Evidently)
and :func:`parse_params`.
"""

from lmops_evidently.frames import FeatureFrames, build_feature_frames
from lmops_evidently.monitor import DRIFT_EVIDENCE, DriftMonitor
from lmops_evidently.params import DriftParams, parse_params

__all__ = [
    "DRIFT_EVIDENCE",
    "DriftMonitor",
    "DriftParams",
    "FeatureFrames",
    "build_feature_frames",
    "parse_params",
]
