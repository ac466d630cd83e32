"""Agreement between annotators: Cohen's kappa for two, Fleiss' kappa for more.

Both come from maintained libraries (scikit-learn's ``cohen_kappa_score``,
statsmodels' ``fleiss_kappa``), imported only when agreement is measured.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lmops_core.extras import require

Answer = str | float
FEATURE = "measuring agreement between annotators"


@dataclass(frozen=True)
class Agreement:
    """Kappa, the method, and how many records it was measured on.

    ``kappa`` is None when it is undefined: fewer than two annotators on any
    record, or every answer the same (chance agreement is then 1). A policy
    reading it then finds no metric, and blocks.
    """

    kappa: float | None
    method: str
    items: int
    note: str = ""


def _cohen(votes: Sequence[Mapping[str, Answer]], pair: Sequence[str]) -> Agreement:
    cohen_kappa_score = require(
        "sklearn.metrics", extra="annotation", feature=FEATURE
    ).cohen_kappa_score
    both = [v for v in votes if pair[0] in v and pair[1] in v]
    if not both:
        return Agreement(None, "cohen", 0, "the two annotators share no record")
    a = [str(v[pair[0]]) for v in both]
    b = [str(v[pair[1]]) for v in both]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined kappa warns; it is reported as None
        kappa = float(cohen_kappa_score(a, b))
    return _defined(kappa, "cohen", len(both))


def _fleiss(votes: Sequence[Mapping[str, Answer]]) -> Agreement:
    np = require("numpy", extra="annotation", feature=FEATURE)
    fleiss_kappa = require(
        "statsmodels.stats.inter_rater", extra="annotation", feature=FEATURE
    ).fleiss_kappa
    counts = Counter(len(v) for v in votes if len(v) >= 2)
    if not counts:
        return Agreement(None, "fleiss", 0, "no record has two annotations")
    # Fleiss' kappa needs as many answers on every record: take the most common number
    # (the larger on a tie); records with another number are left out and counted.
    raters = max(counts, key=lambda n: (counts[n], n))
    rows = [v for v in votes if len(v) == raters]
    categories = sorted({str(a) for v in rows for a in v.values()})
    table = np.array(
        [[sum(1 for a in v.values() if str(a) == c) for c in categories] for v in rows]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = float(fleiss_kappa(table))
    return _defined(kappa, "fleiss", len(rows))


def _defined(kappa: float, method: str, items: int) -> Agreement:
    if math.isfinite(kappa):
        return Agreement(round(kappa, 6), method, items)
    return Agreement(None, method, items, "undefined: every answer was the same")


def measure(votes: Sequence[Mapping[str, Answer]]) -> Agreement:
    """Agreement over records' answers (``{annotator: answer}`` per record).

    Two annotators in all: Cohen's kappa on the records both answered. More:
    Fleiss' kappa on the records with the most common number (at least two) of
    answers. Answers are compared as categories (a rating of 4 is one category).
    """
    annotators = sorted({a for v in votes for a in v})
    if len(annotators) < 2:
        return Agreement(None, "none", 0, "fewer than two annotators")
    if len(annotators) == 2:
        return _cohen(votes, annotators)
    return _fleiss(votes)
