"""Detection of every entity type, including checksum-validated identifiers."""

from __future__ import annotations

import pytest
from lmops_presidio.checksums import cn_resident_id_shaped, cn_resident_id_valid, luhn_valid
from lmops_presidio.config import GuardConfig
from lmops_presidio.guard import PiiGuard, drop_shadowed
from lmops_presidio.recognizers import card_network
from presidio_analyzer import RecognizerResult

PATTERNS_ONLY = GuardConfig(ner_model=None)


def found(text: str, config: GuardConfig = PATTERNS_ONLY) -> set[tuple[str, str]]:
    """(entity type, matched text) pairs the guard reports, with the types that lost a
    span to another (``Finding.also``)."""
    return {
        (entity, text[f.start : f.end])
        for f in PiiGuard(config).scan(text)
        for entity in (f.entity_type, *f.also)
    }


@pytest.mark.parametrize(
    ("entity", "value"),
    [
        ("EMAIL_ADDRESS", "ada.lovelace@example.com"),
        ("PHONE_NUMBER", "(212) 555-0134"),
        ("PHONE_NUMBER", "+44 20 7946 0958"),
        ("IBAN_CODE", "DE89370400440532013000"),
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("IP_ADDRESS", "192.168.10.20"),
        ("IP_ADDRESS", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("US_SSN", "536-22-1234"),
        ("CN_RESIDENT_ID", "11010519491231002X"),
        ("CN_MOBILE", "13812345678"),
        ("CN_MOBILE", "+86 139 1234 5678"),
        ("CN_BANK_CARD", "9558801234567897"),
        ("CN_BANK_CARD", "6222021234567890128"),
    ],
)
def test_each_pattern_entity_is_found(entity: str, value: str) -> None:
    assert (entity, value) in found(f"Here it is: {value} - thanks")


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",  # Visa
        "4222222222222",  # Visa, 13 digits
        "5105105105105100",  # Mastercard 51
        "5555 5555 5555 4444",  # Mastercard 55, grouped
        "2221000000000009",  # Mastercard 2-series, low end
        "2223-0031-2200-3222",  # Mastercard 2-series, dashes
        "2720999999999996",  # Mastercard 2-series, high end
        "378282246310005",  # Amex
        "3714 496353 98431",  # Amex 4-6-5
        "6011111111111117",  # Discover
        "6445644564456445",  # Discover 644-649
        "3530111333300000",  # JCB
        "30569309025904",  # Diners 14 digits
        "3622 720627 1667",  # Diners 4-6-4
        "6200000000000005",  # UnionPay
    ],
)
def test_credit_cards_of_every_network_are_found(number: str) -> None:
    text = f"card {number} expires soon"
    (finding,) = PiiGuard(PATTERNS_ONLY).scan(text)
    assert text[finding.start : finding.end] == number
    if number.startswith("62"):
        # A UnionPay card is a domestic bank card too: one finding, counted once.
        assert (finding.entity_type, finding.also) == ("CREDIT_CARD", ("CN_BANK_CARD",))
    else:
        assert (finding.entity_type, finding.also) == ("CREDIT_CARD", ())


def test_stock_pattern_missed_the_mastercard_2_series() -> None:
    # Why we extend presidio's recognizer: its stock pattern has no 2-series.
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    stock = CreditCardRecognizer().analyze("card 2223003122003222", ["CREDIT_CARD"])
    assert stock == []
    assert ("CREDIT_CARD", "2223003122003222") in found("card 2223003122003222")


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",  # Visa prefix, Luhn fails
        "2721000000000004",  # Luhn-valid but above the 2-series range
        "1234567812345670",  # Luhn-valid, no network
    ],
)
def test_numbers_that_are_not_cards_are_not_credit_cards(number: str) -> None:
    assert luhn_valid(number) == (number != "4111111111111112")
    assert "CREDIT_CARD" not in {entity for entity, _ in found(f"ref {number}.")}


def test_cn_resident_id_with_a_wrong_check_character_is_not_reported() -> None:
    assert cn_resident_id_valid("11010519491231002X")
    assert not cn_resident_id_valid("110105194912310021")
    assert not cn_resident_id_valid("110105194902301234")  # 30 February
    assert found("身份证 110105194912310021 号") == set()
    assert found("身份证11010519491231002x号") == {("CN_RESIDENT_ID", "11010519491231002x")}


def test_cn_numbers_next_to_cjk_characters_are_found() -> None:
    text = "手机13812345678，身份证11010519491231002X，卡号9558801234567897。"
    assert found(text) == {
        ("CN_MOBILE", "13812345678"),
        ("CN_RESIDENT_ID", "11010519491231002X"),
        ("CN_BANK_CARD", "9558801234567897"),
    }


def test_cn_mobile_needs_a_mobile_prefix_and_eleven_digits() -> None:
    assert "CN_MOBILE" not in {e for e, _ in found("call 12812345678 or 1381234567 now")}


def test_cn_bank_card_needs_luhn() -> None:
    assert found("卡号 9558801234567890 谢谢") == set()


def test_a_valid_resident_id_is_not_also_a_card() -> None:
    # A 62xxxx region code (Gansu) looks like UnionPay, and this ID passes Luhn
    # too: without the ID check it would be a credit card and a bank card.
    value = "620102198001010754"
    assert cn_resident_id_valid(value) and luhn_valid(value)
    assert found(f"ID {value}") == {("CN_RESIDENT_ID", value)}


def test_findings_inside_a_more_credible_finding_are_dropped() -> None:
    # presidio's phone matcher also fires on IPv4 addresses.
    assert found("login from 45.157.19.234 twice") == {("IP_ADDRESS", "45.157.19.234")}


def test_ner_findings_never_hide_a_pattern_finding() -> None:
    # Scores as spaCy (constant 0.85) and presidio's IP pattern give them.
    place = RecognizerResult("LOCATION", 14, 25, 0.85)
    address = RecognizerResult("IP_ADDRESS", 14, 25, 0.6)
    assert drop_shadowed([place, address]) == [place, address]


def test_the_ner_reads_text_with_pattern_findings_blanked() -> None:
    # The small English model tags this IP address as a place (GPE) when it reads it.
    text = "The server at 84.109.35.3 rejected the card 4268-8151-2626-7566."
    assert found(text, GuardConfig()) == {
        ("IP_ADDRESS", "84.109.35.3"),
        ("CREDIT_CARD", "4268-8151-2626-7566"),
    }


def test_card_network_table() -> None:
    assert card_network("2221000000000009") == "mastercard"
    assert card_network("2720999999999996") == "mastercard"
    assert card_network("2721000000000004") is None
    assert card_network("378282246310005") == "amex"


def test_names_and_places_use_the_ner_model() -> None:
    text = "Yesterday Barack Obama flew from Paris to Berlin."
    result = found(text, GuardConfig())
    assert ("PERSON", "Barack Obama") in result
    assert {("LOCATION", "Paris"), ("LOCATION", "Berlin")} <= result
    assert found(text) == set()  # patterns only: no names or places


# Gansu-shaped (region 620102, born 1980-01-01), a wrong check digit, and Luhn-valid.
BAD_ID_PASSING_LUHN = "620102198001010002"


@pytest.mark.parametrize(
    ("text", "is_card"),
    [
        (f"订单 {BAD_ID_PASSING_LUHN} 已发货", False),
        (f"卡号 {BAD_ID_PASSING_LUHN}", True),
        (f"身份证卡号 {BAD_ID_PASSING_LUHN}", False),
        ("银行卡 5555555555554444", True),  # a co-branded Mastercard, named as a bank card
        ("card 5555555555554444", False),
        ("order 6011111111111117", False),  # Discover, not a domestic issuer
        ("流水 6222021234567890128", True),  # UnionPay issuer prefix
        ("流水 9558801234567897", True),  # ICBC's domestic 9-series
    ],
)
def test_cn_bank_card_needs_a_domestic_issuer_or_a_bank_card_word(text: str, is_card: bool) -> None:
    assert cn_resident_id_shaped(BAD_ID_PASSING_LUHN) and luhn_valid(BAD_ID_PASSING_LUHN)
    assert not cn_resident_id_valid(BAD_ID_PASSING_LUHN)
    findings = PiiGuard(PATTERNS_ONLY).scan(text)
    # A card of a known network is reported as CREDIT_CARD, a bank card too (also).
    assert any("CN_BANK_CARD" in (f.entity_type, *f.also) for f in findings) is is_card


@pytest.mark.parametrize(
    ("text", "is_card"),
    [
        (f"Reference {BAD_ID_PASSING_LUHN} was rejected as an invalid ID.", False),
        (f"订单 {BAD_ID_PASSING_LUHN} 已发货", False),
        (f"身份证卡号 {BAD_ID_PASSING_LUHN}", False),
        (f"Charge the card {BAD_ID_PASSING_LUHN} today.", True),
        (f"信用卡 {BAD_ID_PASSING_LUHN}", True),
        ("Order 6200000000000005 shipped.", True),  # UnionPay, not ID-shaped
    ],
)
def test_an_id_shaped_number_is_a_credit_card_only_when_named_as_a_card(
    text: str, is_card: bool
) -> None:
    findings = PiiGuard(PATTERNS_ONLY).scan(text)
    assert any("CREDIT_CARD" in (f.entity_type, *f.also) for f in findings) is is_card
