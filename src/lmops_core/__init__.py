"""lmops: a governed lifecycle for large language models.

``from lmops_core import hookimpl`` is all a plugin needs to start; services
use :class:`lmops_core.workspace.Workspace`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmops_core.contracts import (
    EvidenceKind,
    EvidenceRecord,
    InputAsset,
    Metric,
    NoParams,
    OperationParams,
    OutputAsset,
    PolicyCheck,
    Stage,
    StageContext,
    StageResult,
)
from lmops_core.errors import LmopsError
from lmops_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmops_core.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "EvidenceKind",
    "EvidenceRecord",
    "InputAsset",
    "LmopsError",
    "Metric",
    "NoParams",
    "OperationParams",
    "OutputAsset",
    "PolicyCheck",
    "Stage",
    "StageContext",
    "StageResult",
    "Workspace",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    # The workspace pulls in the database layer; load it only when asked for.
    if name == "Workspace":
        from lmops_core.workspace import Workspace

        return Workspace
    raise AttributeError(name)
