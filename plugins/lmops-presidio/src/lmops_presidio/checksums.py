"""Check digits and number ranges used by the identifier recognizers.

Pure functions, no presidio import: Luhn, GB 11643-1999, card networks.
"""

from __future__ import annotations

import datetime as dt

# GB 11643-1999: weights 2^(17-i) mod 11 for the first 17 digits; the check
# character is indexed by the weighted sum mod 11.
_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_ID_CHECK = "10X98765432"


def digits_only(text: str) -> str:
    """``text`` without its separators (spaces and dashes)."""
    return "".join(ch for ch in text if ch not in " -")


def luhn_valid(number: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn (mod 10) check."""
    if not number.isascii() or not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def cn_resident_id_check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits of an ID."""
    total = sum(int(ch) * weight for ch, weight in zip(first17, _CN_ID_WEIGHTS, strict=True))
    return _CN_ID_CHECK[total % 11]


def cn_resident_id_valid(value: str) -> bool:
    """Whether ``value`` is an 18-character mainland-China resident ID number.

    Checks the shape, that the birth date is a real calendar date not in the
    future, and the GB 11643-1999 check character.
    """
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    check = value[17].upper()
    if check not in "0123456789X" or not _has_birth_date(value):
        return False
    return cn_resident_id_check_char(value[:17]) == check


def cn_resident_id_shaped(number: str) -> bool:
    """Whether 18 digits could be a resident ID with a wrong check character.

    A region code starting 1-6 and a real birth date in digits 7-14: such a
    number may be a mistyped ID rather than a card, whatever its last digit.
    """
    return len(number) == 18 and number[0] in "123456" and _has_birth_date(number)


def _has_birth_date(value: str) -> bool:
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    return birth.year >= 1900 and birth <= dt.date.today()


# (network, IIN ranges as (low, high) of equal digit count, allowed lengths)
CARD_NETWORKS: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]], ...] = (
    ("visa", ((4, 4),), (13, 16, 19)),
    ("mastercard", ((51, 55), (2221, 2720)), (16,)),
    ("amex", ((34, 34), (37, 37)), (15,)),
    ("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), (16, 17, 18, 19)),
    ("jcb", ((3528, 3589),), (16, 17, 18, 19)),
    ("diners", ((300, 305), (3095, 3095), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    ("unionpay", ((62, 62), (81, 81)), (16, 17, 18, 19)),
)


def card_network(number: str) -> str | None:
    """The payment network whose IIN range and length ``number`` fits, if any."""
    for network, ranges, lengths in CARD_NETWORKS:
        if len(number) not in lengths:
            continue
        for low, high in ranges:
            width = len(str(low))
            if low <= int(number[:width]) <= high:
                return network
    return None
