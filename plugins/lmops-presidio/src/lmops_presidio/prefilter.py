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

_LATIN = re.compile(r"[A-Za-z]")


def candidate_entities(text: str, entities: Iterable[str]) -> list[str]:
    """The entities of ``entities`` whose recognizers could match ``text``.

    Pattern entities are kept only when their required characters occur. NER
    entities are kept unless the text has no Latin letter at all: the NER model
    is English, and on Chinese-only text it tags whole sentences as PERSON.
    Chinese personal data is caught by the pattern recognizers instead.
    """
    has_digit = _DIGIT.search(text) is not None
    has_latin = _LATIN.search(text) is not None
    kept: list[str] = []
    for entity in entities:
        if entity in NER_ENTITIES:
            if has_latin:
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
