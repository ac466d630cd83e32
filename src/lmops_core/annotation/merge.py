"""One answer per record from its annotators' votes, and the record it makes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from statistics import fmean
from typing import Any

from lmops_core.annotation.labelstudio import AnnotationType, Vote


def decide(kind: AnnotationType, votes: Mapping[str, Vote]) -> Vote | None:
    """The majority label or side, or the mean rating; None on a tie (or no vote)."""
    if not votes:
        return None
    if kind == "rating":
        return round(fmean(float(v) for v in votes.values()), 6)
    ranked = Counter(str(v) for v in votes.values()).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def annotated_record(
    record: Mapping[str, Any],
    answer: Vote,
    *,
    kind: AnnotationType,
    field: str,
    candidates: tuple[str, str],
) -> dict[str, Any]:
    """The record with its answer: ``field`` set (labels, ratings), or, for a preference,
    a ``preference`` record whose ``chosen`` is the candidate the majority picked."""
    if kind != "preference":
        return {**record, field: answer}
    left, right = candidates
    chosen, rejected = (left, right) if answer == "left" else (right, left)
    pair: dict[str, Any] = {
        "prompt": record.get("prompt"),
        "chosen": record[chosen],
        "rejected": record[rejected],
    }
    if isinstance(record.get("system"), str):
        pair["system"] = record["system"]
    return pair
