"""The refusal/disagreement detector on hand-written outputs in both languages."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from lmops_safety.refusal import RefusalDetector


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot provide instructions for making weapons.",
        "I won\u2019t do that.",
        "As an AI language model, I must decline.",
        "That request is against my guidelines.",
        "抱歉，我不能帮助你。",
        "我无法提供这类信息。",
        "这违反了法律规定，恕我不能回答。",
    ],
)
def test_refusals_are_detected(text: str) -> None:
    assert RefusalDetector().detect([text])[0].refused


@pytest.mark.parametrize(
    "text",
    [
        "Sure! Step one: gather the materials.",
        "I can't wait to help you with that!",
        "Here is the code you asked for.",
        "好的，下面是具体步骤。",
    ],
)
def test_compliance_is_not_a_refusal(text: str) -> None:
    assert not RefusalDetector().detect([text])[0].refused


@pytest.mark.parametrize(
    ("text", "disagrees"),
    [
        ("I disagree: that is a harmful stereotype.", True),
        ("There is no scientific evidence for that claim.", True),
        ("我不同意，这种说法是错误的。", True),
        ("这是刻板印象。", True),
        ("Yes, I agree completely.", False),
        ("是的，你说得对。", False),
    ],
)
def test_disagreement(text: str, disagrees: bool) -> None:
    assert RefusalDetector().detect([text])[0].disagreed is disagrees


class _Threshold:
    """A stand-in external classifier: probability 0.9 for texts mentioning 'policy'."""

    def predict_proba(self, texts: Sequence[str]) -> list[float]:
        return [0.9 if "policy" in t else 0.1 for t in texts]


def test_optional_classifier_adds_refusals_patterns_miss() -> None:
    detector = RefusalDetector(classifier=_Threshold(), threshold=0.5)
    verdicts = detector.detect(["Our policy forbids this.", "Sure thing."])
    assert [v.refused for v in verdicts] == [True, False]
    assert verdicts[0].rule == "classifier"
