"""The recognizers lmops adds to presidio's, and the set a guard runs.

presidio ships recognizers for e-mail, phone, IBAN, IP and US SSN, which we
use as they are (the e-mail one made offline). Its credit-card pattern misses
Mastercard's 2-series, so ``CREDIT_CARD`` runs through our subclass. The
mainland-China recognizers are ours. Our patterns use lookarounds instead of
``\\b`` so numbers written next to CJK characters (``手机13812345678``) are
found: CJK characters are word characters, so ``\\b`` never fires there.
"""

from __future__ import annotations

from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

from lmops_presidio.checksums import (
    CARD_NETWORKS,
    card_network,
    cn_resident_id_shaped,
    cn_resident_id_valid,
    digits_only,
    luhn_valid,
)
from lmops_presidio.tld import offline_tld_extractor

# Not preceded/followed by an ASCII letter or digit (CJK neighbours allowed).
_NOT_AFTER = r"(?<![0-9A-Za-z])"
_NOT_BEFORE = r"(?![0-9A-Za-z])"

__all__ = [
    "CARD_NETWORKS",
    "AllNetworksCreditCardRecognizer",
    "CnBankCardRecognizer",
    "CnMobileRecognizer",
    "CnResidentIdRecognizer",
    "OfflineEmailRecognizer",
    "card_network",
    "pattern_recognizers",
]


class _KeptByContext(PatternRecognizer):
    """A pattern recognizer whose findings must also pass :meth:`keep`, which reads the
    text around them."""

    def keep(self, text: str, start: int, end: int) -> bool:
        """Whether the finding at ``text[start:end]`` is reported."""
        raise NotImplementedError

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        """The pattern findings that :meth:`keep` accepts."""
        results: list[RecognizerResult] = super().analyze(
            text, entities, nlp_artifacts, regex_flags
        )
        return [r for r in results if self.keep(text, r.start, r.end)]


class AllNetworksCreditCardRecognizer(_KeptByContext, CreditCardRecognizer):
    """presidio's credit-card recognizer, extended to every major network.

    Matches 13-19 digit numbers (plain, 4-4-4-4[-n], Amex 4-6-5 and Diners
    4-6-4 groupings), then keeps those whose prefix and length fit a network of
    :data:`CARD_NETWORKS` and that pass the Luhn check.
    """

    PATTERNS = [
        Pattern(
            "Card number (validated)",
            _NOT_AFTER
            + r"(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
            + r"|\d{4}([ -])\d{6}\2\d{4,5})"
            + _NOT_BEFORE,
            0.3,
        )
    ]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            patterns=self.PATTERNS,
            supported_language=supported_language,
            name="AllNetworksCreditCardRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        """A number of a known network that passes the Luhn check."""
        number = digits_only(pattern_text)
        return card_network(number) is not None and luhn_valid(number)

    def keep(self, text: str, start: int, end: int) -> bool:
        """A number shaped like a resident ID is a card only when named as a card.

        One resident ID in ten passes Luhn whatever its check character, and
        Gansu's region codes (62...) read as UnionPay: such a number with a
        wrong check character is a mistyped ID unless a card word precedes it.
        """
        if not cn_resident_id_shaped(digits_only(text[start:end])):
            return True
        return words_before(text, start, CARD_CONTEXT) and not words_before(
            text, start, CN_ID_CONTEXT
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        """Not a card when it is a valid resident ID (which it is reported as instead)."""
        return cn_resident_id_valid(pattern_text)


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail recognizer, validating domains with the bundled suffix list."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language, name="OfflineEmailRecognizer")

    def validate_result(self, pattern_text: str) -> bool:
        """Valid when the part after ``@`` ends in a known public suffix."""
        return offline_tld_extractor()(pattern_text).fqdn != ""


class _ContextPatternRecognizer(PatternRecognizer):
    """One entity found by the class's ``PATTERNS``, made likelier by its ``CONTEXT`` words;
    the recognizer is named after its class."""

    ENTITY: str
    PATTERNS: list[Pattern]
    CONTEXT: list[str]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
            name=type(self).__name__,
        )


class CnResidentIdRecognizer(_ContextPatternRecognizer):
    """Mainland-China resident ID numbers (18 characters, GB 11643-1999).

    A candidate is reported only if its birth date is real and its check
    character is right, so a mistyped or random number is not.
    """

    PATTERNS = [
        Pattern(
            "CN resident ID (validated)",
            _NOT_AFTER
            + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
            + _NOT_BEFORE,
            0.5,
        )
    ]
    ENTITY = "CN_RESIDENT_ID"
    CONTEXT = ["身份证", "证件", "身份证号", "id", "identity", "resident"]

    def validate_result(self, pattern_text: str) -> bool:
        """The birth date and the GB 11643 check character must be right."""
        return cn_resident_id_valid(pattern_text)


class CnMobileRecognizer(_ContextPatternRecognizer):
    """Mainland-China mobile numbers: ``1[3-9]x`` and 8 more digits, optional +86."""

    PATTERNS = [
        Pattern(
            "CN mobile",
            r"(?<![0-9A-Za-z+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}" + _NOT_BEFORE,
            0.5,
        )
    ]
    ENTITY = "CN_MOBILE"
    CONTEXT = ["手机", "电话", "联系", "mobile", "phone", "cell", "tel"]


CN_CARD_ISSUER_PREFIXES: tuple[str, ...] = (
    "62",
    "601382",
    "6033",
    "6034",
    "6035",
    "6036",
    "6037",
    "9",
)
"""Leading digits of cards issued in mainland China: UnionPay (62, its
co-branded 622126-622925 included), Bank of China's 601382 and 6033xx-6037xx
BINs, and the domestic-only 9-series (ICBC 9558, ABC 95599...). Discover's
6011 is not among them."""

CN_CARD_CONTEXT: tuple[str, ...] = (
    "银行卡",
    "卡号",
    "借记卡",
    "储蓄卡",
    "信用卡",
    "账号",
    "帐号",
    "银联",
    "bank card",
    "debit card",
    "card no",
    "card number",
    "account",
    "unionpay",
)
"""Words that, just before a number, say it is a bank card."""

CN_ID_CONTEXT: tuple[str, ...] = ("身份证", "证件", "身份", "id no", "id number", "identity")
"""Words that, just before a number, say it is an identity number."""

CARD_CONTEXT: tuple[str, ...] = (*CN_CARD_CONTEXT, "card", "credit", "visa", "mastercard")
"""Words that, just before a number, say it is a card of any kind."""

_CONTEXT_WINDOW = 16


def words_before(text: str, start: int, words: Sequence[str]) -> bool:
    """Whether one of ``words`` (lower case) comes just before ``text[start]``."""
    before = text[max(0, start - _CONTEXT_WINDOW) : start].lower()
    return any(word in before for word in words)


class CnBankCardRecognizer(_KeptByContext, _ContextPatternRecognizer):
    """Bank card numbers as issued in mainland China: 16-19 digits passing Luhn,
    from a domestic issuer or named as a bank card.

    A number is reported when it starts with an issuer prefix of
    :data:`CN_CARD_ISSUER_PREFIXES`, or when a bank-card word of
    :data:`CN_CARD_CONTEXT` comes just before it (a co-branded Visa or
    Mastercard). A number shaped like a resident ID (one in ten of which
    passes Luhn whatever its check character) needs a bank-card word, and one
    right after an ID word is never a card.
    """

    PATTERNS = [
        Pattern(
            "Bank card (validated)",
            _NOT_AFTER
            + r"(?:\d{16,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?)"
            + _NOT_BEFORE,
            0.3,
        )
    ]
    ENTITY = "CN_BANK_CARD"
    CONTEXT = ["银行卡", "卡号", "借记卡", "储蓄卡", "bank", "card", "account"]

    def validate_result(self, pattern_text: str) -> bool:
        """16 to 19 digits that pass the Luhn check."""
        number = digits_only(pattern_text)
        return 16 <= len(number) <= 19 and luhn_valid(number)

    def invalidate_result(self, pattern_text: str) -> bool:
        """Not a card when it is a valid resident ID: one in ten IDs also passes Luhn."""
        return cn_resident_id_valid(pattern_text)

    def keep(self, text: str, start: int, end: int) -> bool:
        """Whether the number at ``text[start:end]`` is a bank card by issuer and context."""
        number = digits_only(text[start:end])
        if words_before(text, start, CN_ID_CONTEXT):
            return False
        named = words_before(text, start, CN_CARD_CONTEXT)
        if cn_resident_id_shaped(number):
            return named
        return named or number.startswith(CN_CARD_ISSUER_PREFIXES)


def pattern_recognizers(
    *,
    language: str = "en",
    phone_regions: Sequence[str] = PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS,
) -> list[EntityRecognizer]:
    """Every recognizer that works without an NER model, one per entity type."""
    return [
        OfflineEmailRecognizer(supported_language=language),
        PhoneRecognizer(supported_language=language, supported_regions=tuple(phone_regions)),
        AllNetworksCreditCardRecognizer(supported_language=language),
        IbanRecognizer(supported_language=language),
        IpRecognizer(supported_language=language),
        UsSsnRecognizer(supported_language=language),
        CnResidentIdRecognizer(supported_language=language),
        CnMobileRecognizer(supported_language=language),
        CnBankCardRecognizer(supported_language=language),
    ]
