"""Exact pre-filters: which pattern recognizers could possibly match a text.

Each test is a necessary condition of the recognizer's regular expression (or
of ``phonenumbers``' matcher), so skipping a recognizer whose condition fails
never loses a finding. Most natural-language text has no digit and no ``@``,
and then no pattern recognizer runs at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Python's ``\d`` matches every Unicode decimal digit, like the ``regex``
# module presidio uses and like phonenumbers (which accepts full-width digits).
_DIGIT = re.compile(r"\d")

_NEEDS_DIGIT = frozenset(
    {
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "CN_RESIDENT_ID",
        "CN_MOBILE",
        "CN_BANK_CARD",
    }
)


from lmops_presidio.config import NER_ENTITIES  # noqa: E402
from lmops_presidio.rescan import BLANK, HAN_RANGES  # noqa: E402

_LATIN = re.compile(r"[A-Za-z]")

HAN = re.compile(f"[{HAN_RANGES}]")
"""One Han character (CJK unified ideographs, extension A, compatibility)."""


CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
"""One Han character, CJK punctuation mark or full-width form."""


def _to_english_view(match: re.Match[str]) -> str:
    char = match.group()
    # A full-width form of an ASCII character (``，``, ``（``, ``Ｊ``) becomes
    # that character, as NFKC normalisation does; the rest becomes a space.
    return chr(ord(char) - 0xFEE0) if "\uff01" <= char <= "\uff5e" else " "


BLANK_RUN = re.compile(rf"{re.escape(BLANK)}{{2,}}")
"""Two blanks or more: a span blanked for a pass (see :mod:`~lmops_presidio.rescan`)."""

_RUN_FOR_ENGLISH = "."
"""What follows the first blank of a run for the English NER. spaCy's tokenizer splits ``#``
off one at a time (an 18-digit ID blanked was 18 tokens to read) but keeps a run of dots as
one token. The first blank stays ``#``, so the word next to it reads as before: with the whole
run as hyphens or dots, spaCy missed Latin names next to a blanked number."""


def _dots(match: re.Match[str]) -> str:
    return BLANK + _RUN_FOR_ENGLISH * (len(match.group()) - 1)


def english_view(text: str) -> str:
    """``text`` as the English NER reads it: full-width forms become their ASCII characters,
    other CJK characters spaces, and a run of blanks (:data:`~lmops_presidio.rescan.BLANK`)
    one blank and dots.

    Offsets stay the same (one character for one), and an English name inside
    a Chinese sentence is read between blanks, with the sentence's full-width
    commas and brackets, instead of next to characters the model cannot read.
    """
    view = CJK.sub(_to_english_view, text)
    return BLANK_RUN.sub(_dots, view) if BLANK in view else view


def has_latin(text: str) -> bool:
    """Whether ``text`` holds a Latin letter (else the English NER has nothing to read)."""
    return _LATIN.search(text) is not None


def candidate_entities(
    text: str, entities: Iterable[str], *, chinese_ner: bool = False
) -> list[str]:
    """The entities of ``entities`` whose recognizers could match ``text``.

    Pattern entities are kept only when their required characters occur. NER
    entities are kept when the text has a Latin letter (for the English NER)
    or, with ``chinese_ner``, a Han character (for the Chinese NER).
    """
    has_digit = _DIGIT.search(text) is not None
    readable = has_latin(text) or (chinese_ner and HAN.search(text) is not None)
    kept: list[str] = []
    for entity in entities:
        if entity in NER_ENTITIES:
            if readable:
                kept.append(entity)
        elif entity in _NEEDS_DIGIT:
            if has_digit:
                kept.append(entity)
        elif entity == "EMAIL_ADDRESS":
            if "@" in text:
                kept.append(entity)
        elif entity == "IP_ADDRESS":
            # IPv4 needs digits and dots; every IPv6 form has a colon.
            if ":" in text or (has_digit and "." in text):
                kept.append(entity)
        else:
            kept.append(entity)
    return kept
