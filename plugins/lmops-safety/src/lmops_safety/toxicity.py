"""Toxicity of model outputs, scored by alt-profanity-check.

alt-profanity-check ships a linear SVM over character/word n-grams, trained on
labelled offensive language, inside its wheel: it installs from PyPI and runs
offline, with no hub weights. It was trained on English; Chinese or other
outputs get low scores whatever they say, so per-language toxicity metrics are
reported separately and the README says so.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmops_core.errors import PluginError

SCORER_NAME = "alt-profanity-check"


class ToxicityScorer:
    """Probability that each text is offensive, from alt-profanity-check's bundled model."""

    name = SCORER_NAME

    def __init__(self) -> None:
        try:
            # Imported lazily: the module loads its model when first imported.
            from profanity_check import predict_prob
        except ImportError as exc:
            raise PluginError(
                f"lmops-safety needs alt-profanity-check for toxicity scores ({exc}); "
                "install it with: pip install alt-profanity-check"
            ) from exc
        self._predict_prob = predict_prob

    def score(self, texts: Sequence[str]) -> list[float]:
        """One score in [0, 1] per text; empty texts score 0."""
        if not texts:
            return []
        scores = self._predict_prob(list(texts))
        return [
            0.0 if not text.strip() else float(score)
            for text, score in zip(texts, scores, strict=True)
        ]

    @staticmethod
    def version() -> str:
        """The installed alt-profanity-check version, recorded in the evidence."""
        from importlib.metadata import version

        return version("alt-profanity-check")
