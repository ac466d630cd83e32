"""A transparent classifier of harmful requests, by category, in English and Chinese.

lmops-safety scores *outputs* (did the model refuse?); it has no classifier for
*requests*, so the service uses these documented phrase patterns. Each category
lists regular expressions matched case-insensitively against the prompt. It is
deterministic and auditable, and it misses paraphrases: it is a first line of
defence next to a model that was itself evaluated for refusals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from lmops_serve.known_names import check_known

REFUSAL_MESSAGE = "I can't help with that request."

CATEGORY_PATTERNS: Mapping[str, tuple[str, ...]] = {
    "weapons": (
        r"\b(build|make|assemble|construct)\b.{0,40}\b(bomb|explosive|pipe bomb|grenade)",
        r"\b(bomb|explosive)s?\b.{0,30}\b(instructions|recipe|step by step)",
        r"(制作|制造|自制|组装).{0,10}(炸弹|炸药|爆炸物|枪支)",
    ),
    "malware": (
        r"\b(write|create|build|code)\b.{0,40}\b(ransomware|keylogger|malware|computer virus"
        r"|botnet|trojan)",
        r"(编写|制作|写一个|开发).{0,10}(勒索软件|木马|病毒程序|恶意软件|键盘记录器)",
    ),
    "drugs": (
        r"\b(synthesi[sz]e|cook|make|produce)\b.{0,40}\b(meth|methamphetamine|heroin|fentanyl"
        r"|cocaine)",
        r"(制作|合成|提炼|制造).{0,10}(冰毒|海洛因|芬太尼|可卡因|毒品)",
    ),
    "self_harm": (
        r"\b(how (can|do|should) i|best way to|ways to)\b.{0,30}\b(kill myself|end my life"
        r"|commit suicide|hurt myself)",
        r"(怎么|如何|怎样).{0,10}(自杀|结束自己的生命|伤害自己)",
    ),
    "violence": (
        r"\b(how (can|do) i|help me)\b.{0,30}\b(kill|poison|murder)\b.{0,20}\b(someone|a person"
        r"|my (wife|husband|boss|neighbou?r))",
        r"(怎么|如何|帮我).{0,10}(杀死|毒死|谋杀).{0,10}(别人|一个人|我的)",
    ),
}
"""The categories and their patterns (EN + ZH)."""

CATEGORIES: tuple[str, ...] = tuple(CATEGORY_PATTERNS)


class RequestClassifier:
    """Names the harmful categories a request falls into."""

    def __init__(self, categories: Iterable[str] | None = None) -> None:
        chosen = tuple(categories) if categories is not None else CATEGORIES
        check_known(chosen, CATEGORIES, field="refuse_categories", what="refusal categories")
        self.categories = chosen
        self._compiled = {
            c: [re.compile(p, re.IGNORECASE | re.DOTALL) for p in CATEGORY_PATTERNS[c]]
            for c in chosen
        }

    def classify(self, text: str) -> list[str]:
        """The configured categories whose patterns match ``text``."""
        return [
            c for c, patterns in self._compiled.items() if any(p.search(text) for p in patterns)
        ]
