"""Finding what a TC260-003 assessment reads about a model version: its training corpus."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmops_core.workspace import Workspace


def training_datasets(ws: Workspace, ref: str) -> list[str]:
    """The dataset versions ``ref`` was made from, found through its lineage (nearest first).

    Pass one as input ``corpus`` of the ``tc260`` evaluator; a model registered without a
    recorded training run has none, and its corpus must be named by hand.
    """
    found: list[str] = []
    for edge in ws.lineage(ref, direction="up"):
        if edge.parent.startswith("dataset:") and edge.parent not in found:
            found.append(edge.parent)
    return found
