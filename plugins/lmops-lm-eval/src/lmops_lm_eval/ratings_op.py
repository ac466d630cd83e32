"""The "ratings" evaluator: human scores and preferences from a file become evidence."""

from __future__ import annotations

from lmops_core.contracts import StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_core.kit import BaseOperation
from lmops_lm_eval.params import RatingsParams
from lmops_lm_eval.ratings import aggregate, load_ratings, ratings_result


class HumanRatingsEvaluator(BaseOperation[RatingsParams]):
    """Aggregate human ratings (scores per sample, pairwise preferences) into ratings evidence:
    mean score with a 95% interval, win rate with a Wilson interval.

    Operation "ratings": aggregate a ratings file into ``ratings`` evidence on "model".

    The file comes as input role "ratings", a registered dataset (never a host path: the
    evidence must name exactly what it was computed from); params ``scale_min``/``scale_max``
    bound the scores (1-5).
    """

    name = "ratings"
    input_roles = {"model": "model", "ratings": "dataset"}
    evidence_kinds = ("ratings",)

    def execute(self, context: StageContext, p: RatingsParams) -> StageResult:
        """Load, validate and aggregate the ratings."""
        lo, hi = p.scale_min, p.scale_max
        context.input("model")  # the subject must exist, even though only the file is read
        if "ratings" not in context.inputs:
            raise ValidationError(
                f'operation "{self.name}": give the ratings as input role "ratings" (a '
                "registered dataset, so the evidence names the exact file it came from)",
                field="ratings",
            )
        path = context.inputs["ratings"].path
        if path is None:
            raise ValidationError('input "ratings" has no file on disk', field="ratings")
        context.progress.start("ratings", total=1)
        metrics, details = aggregate(load_ratings(path, scale=(lo, hi)), source="human")
        context.progress.advance(1)
        context.progress.finish()
        return ratings_result(metrics, {**details, "scale": [lo, hi]})
