"""Keeping the ONNX and Hugging Face stack offline and quiet.

onnxruntime's native telemetry looks up a remote host seconds after import, and
only ``ORT_DISABLE_TELEMETRY`` set *before* the import stops it; transformers
and the hub client must never try to download anything. ``setdefault`` lets a
user who knows better override each variable.
"""

from __future__ import annotations

from types import ModuleType

from lmops_core.offline import set_offline_defaults


def set_offline_environment() -> None:
    """Set the offline/no-telemetry variables unless the user already set them."""
    set_offline_defaults()


def import_onnxruntime() -> ModuleType:
    """Import onnxruntime, always after the telemetry switch is set."""
    set_offline_environment()
    import onnxruntime

    module: ModuleType = onnxruntime
    return module
