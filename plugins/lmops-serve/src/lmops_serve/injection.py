"""Prompt-injection and jailbreak detection on requests, in English and Chinese.

A request that tries to override the service's instructions, to make the model
play a character without rules, or to read back its system prompt and secrets
is scored by *detectors*; the guard configuration's ``injection`` section says
which detectors run, the score from which a request counts as an injection, and
what then happens (``block``: the fixed refusal, the model is not called;
``flag``: answered, and marked in the inference log; ``off``).

The ``rules`` detector is a table of documented phrase patterns, each with a
weight: a strong sign ("ignore all previous instructions") weighs 1.0, a weak
one ("stay in character") less, and a request's score is ``1 - prod(1 - w)``
over the rules it matches, so weak signs add up. Like the harmful-request
patterns of :mod:`lmops_serve.request_filter`, it is deterministic and auditable
and it misses paraphrases. No maintained offline injection classifier is
installed with lmops; :data:`DETECTORS` is where one would be added.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from lmops_serve.known_names import check_known

INJECTION_CATEGORY = "prompt_injection"
"""The ``refused_category`` of a request blocked as an injection."""

_PREVIOUS = r"(?:all |any |the |your )?(?:previous|prior|above|earlier|preceding|former|original)"
_ORDERS = r"(?:instructions?|rules|directions|prompts?|guidelines|constraints|orders)"
_SECRET_PROMPT = (
    r"(?:system prompt|system message|initial prompt|hidden prompt|original prompt|"
    r"(?:system|initial|hidden) (?:instructions?|rules|configuration))"
)
_NO_RULES = (
    r"(?:no|without(?: any)?|free of|not bound by(?: any)?)"
    r" (?:restrictions|limits|limitations|rules|filters|guidelines|censorship|ethics)"
)

INJECTION_RULES: Mapping[str, tuple[str, float]] = {
    # Overriding the service's instructions.
    "en.override": (
        rf"\b(?:ignore|disregard|forget|override|bypass)\b.{{0,20}}{_PREVIOUS}"
        rf".{{0,20}}{_ORDERS}",
        1.0,
    ),
    "en.ignore_rules": (
        r"\b(?:ignore|disregard|forget)\b (?:the|all|your) (?:rules|instructions)"
        r" (?:above|you were given)",
        1.0,
    ),
    "en.new_rules": (r"\b(?:new (?:rule|instruction|system message)s?|from now on,? you)\b", 0.3),
    "en.system_override": (r"\bsystem (?:override|update|message)\s*:|</?(?:system|user)>", 0.8),
    "en.mode_switch": (r"\b(?:debug|developer|god|admin|jailbreak|unrestricted) mode\b", 0.4),
    # Reading back the system prompt and its secrets.
    "en.exfiltrate_prompt": (
        r"\b(?:reveal|print|show|output|repeat|display|leak|dump|tell me|"
        rf"translate|summari[sz]e|what (?:is|are))\b.{{0,40}}{_SECRET_PROMPT}",
        0.9,
    ),
    "en.repeat_above": (
        r"\brepeat (?:everything|all|the text|the words|what is written)\b.{0,20}"
        r"\b(?:above|before)\b",
        0.9,
    ),
    "en.your_instructions": (
        r"\b(?:translate|summari[sz]e|print|repeat|output)\b.{0,20}"
        r"\byour (?:instructions|configuration|prompt)\b",
        0.6,
    ),
    # Role play without rules.
    "en.unrestricted_persona": (
        rf"\b(?:you are now|pretend (?:to be|you are)|act as|roleplay as|"
        rf"imagine you are)\b.{{0,60}}{_NO_RULES}",
        1.0,
    ),
    # "DAN" in capitals only: Dan is also a name.
    "en.dan": (r"(?-i:\bDAN\b)|\b(?:do anything now|jailbreak(?:ed|ing)?)\b", 0.8),
    "en.stay_in_character": (r"\bstay in character\b", 0.4),
    "en.pretend_system": (
        r"\bpretend (?:you are|to be) an? (?:linux )?(?:terminal|shell|"
        r"console)\b",
        0.5,
    ),
    "en.authority": (
        r"\bI am (?:the|your) (?:developer|administrator|admin|creator|security "
        r"auditor)\b",
        0.4,
    ),
    "en.secret_request": (
        r"\b(?:reveal|tell|share|print|state|output|remind me|read)\b.{0,30}"
        r"\b(?:password|passcode|secret|api key|master key|unlock code|token)\b",
        0.3,
    ),
    # Chinese.
    "zh.override": (
        r"(?:忽略|无视|忘记|忘掉|不要理会).{0,4}(?:之前|以上|上面|前面|先前|此前|原来|所有|全部|一切)"
        r".{0,4}(?:指令|指示|规则|设定|约束|提示词)",
        1.0,
    ),
    "zh.system_override": (r"系统(?:覆盖|消息|指令)[：:]|新的系统消息", 0.8),
    "zh.mode_switch": (r"(?:调试|开发者|越狱|上帝|管理员)模式", 0.4),
    "zh.exfiltrate_prompt": (
        r"(?:输出|打印|显示|告诉我|重复|泄露|透露|公开|翻译|总结).{0,12}"
        r"(?:系统提示词?|系统指令|初始指令|隐藏指令|提示词|你的指令|你的配置)",
        0.9,
    ),
    "zh.your_instructions": (
        r"(?:你的指令|你的配置|你的设定|系统提示词?).{0,12}(?:翻译|输出|打印|重复|总结|公开)",
        0.6,
    ),
    "zh.new_rules": (r"新(?:的)?(?:规定|规则|指令)|从现在起", 0.3),
    "zh.pretend_system": (r"假装你?是一?个?(?:Linux)?\s*(?:终端|命令行|控制台)", 0.5),
    "zh.secret_request": (
        r"(?:告诉|说出|念|透露|公开|分享|提醒|输出).{0,12}(?:密码|密钥|口令|暗号|解锁码|令牌)",
        0.3,
    ),
    "zh.repeat_above": (
        r"(?:上面|以上|前面)的?所有内容.{0,6}(?:重复|输出|打印)|(?:重复|输出|打印)"
        r".{0,6}(?:上面|以上|前面)的?所有内容",
        0.9,
    ),
    "zh.unrestricted_persona": (
        r"(?:你现在是|假装你?是|扮演|假设你是).{0,30}"
        r"(?:没有任何?限制|不受任何?(?:限制|约束)|无限制|没有规则)",
        1.0,
    ),
    "zh.authority": (r"我是(?:配置你的)?(?:开发人员|开发者|管理员|安全审计员)", 0.4),
}
"""The ``rules`` detector's patterns: id -> (regular expression, weight in (0, 1])."""


@dataclass(frozen=True)
class InjectionVerdict:
    """What the detectors found in one request: its score and the rules that matched."""

    score: float
    rules: tuple[str, ...] = ()
    flagged: bool = False

    def names(self) -> str:
        """The matched rules, comma-separated, for flat logs."""
        return ",".join(self.rules)


NOTHING_FOUND = InjectionVerdict(score=0.0)


class RuleDetector:
    """The ``rules`` detector: :data:`INJECTION_RULES`, case-insensitive."""

    name = "rules"

    def __init__(self, rules: Mapping[str, tuple[str, float]] = INJECTION_RULES) -> None:
        self._compiled = [
            (f"{self.name}:{rule}", re.compile(pattern, re.IGNORECASE | re.DOTALL), weight)
            for rule, (pattern, weight) in rules.items()
        ]

    def score(self, text: str) -> tuple[float, list[str]]:
        """``(score, matched rule ids)`` for ``text``."""
        matched = [
            (rule, weight) for rule, pattern, weight in self._compiled if pattern.search(text)
        ]
        miss = math.prod(1.0 - weight for _, weight in matched)
        return 1.0 - miss, [rule for rule, _ in matched]


Detector = Callable[[str], tuple[float, list[str]]]

DETECTORS: Mapping[str, Callable[[], Detector]] = {"rules": lambda: RuleDetector().score}
"""Detector names a guard configuration may list, and how each is built."""


class InjectionDetector:
    """Scores requests with the configured detectors; ``flagged`` from ``threshold`` up.

    A request's score is the highest of its detectors' scores. ``mode`` is kept
    for the caller (``block``, ``flag`` or ``off``); with ``off`` nothing is scored.
    """

    def __init__(
        self, mode: str = "off", detectors: Iterable[str] = ("rules",), threshold: float = 0.5
    ) -> None:
        chosen = tuple(detectors)
        check_known(chosen, DETECTORS, field="injection.detectors", what="injection detectors")
        self.mode = mode
        self.threshold = threshold
        self._detectors: Sequence[Detector] = [DETECTORS[name]() for name in chosen]

    def inspect(self, text: str) -> InjectionVerdict:
        """The verdict on one request (:data:`NOTHING_FOUND` when the mode is ``off``)."""
        if self.mode == "off":
            return NOTHING_FOUND
        score, rules = 0.0, []
        for detector in self._detectors:
            found, matched = detector(text)
            score = max(score, found)
            rules.extend(matched)
        return InjectionVerdict(
            score=round(score, 6), rules=tuple(rules), flagged=score >= self.threshold
        )
