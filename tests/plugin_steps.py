"""What the plugins that tests write out as files build their operations from.

Such a plugin is a module of plain functions, one per operation; :class:`Step` makes each an
operation (``name``, one-line ``description``, ``run(context)``, ``reads_inputs``), so no plugin spells out a
class per operation, and :func:`text_output` writes a text dataset the operation returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lmops_core import OutputAsset, StageContext, StageResult


@dataclass(frozen=True)
class Step:
    """An operation made of a name, a description and the function that runs it."""

    name: str
    description: str
    run: Callable[[StageContext], StageResult]
    reads_inputs: bool = True


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path``; ``path``."""
    path.write_text(text)
    return path


def text_output(context: StageContext, file: str, text: str, role: str = "dataset") -> OutputAsset:
    """``text`` written to ``file`` in the run's workdir, as a text dataset in ``role``
    derived from the input ``dataset``."""
    path = write_text(context.workdir / file, text)
    return OutputAsset(
        role=role, asset_type="dataset", path=path, kind="text", derived_from=["dataset"]
    )
