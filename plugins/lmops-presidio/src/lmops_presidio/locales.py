"""Phone regions from a dataset's declared locale.

A phone number written without its country code means something only in a
region: ``4930123456`` is a Berlin number to a German reader and an order
number to everyone else. The ``pii-redact`` step therefore reads national
numbers only in the regions the dataset declares (``meta={"locale": "zh-CN"}``
or ``{"locales": ["en-US", "zh-CN"]}`` when it was registered); numbers
written with ``+`` and their country code are found whatever the locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmops_core.errors import ValidationError

INTERNATIONAL_ONLY: tuple[str, ...] = ("ZZ",)
"""The phonenumbers region "unknown": only numbers written with ``+`` and a country code."""


def declared_phone_regions(metadata: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The regions of the locales ``metadata`` declares (``locale`` or ``locales``), or None.

    A locale is ``language-REGION`` or ``language_REGION`` (``zh-CN``,
    ``en_GB``); one without a region, or with a region phonenumbers does not
    know, raises a ValidationError naming it.
    """
    import phonenumbers

    declared = metadata.get("locales", metadata.get("locale"))
    if declared is None:
        return None
    locales = [declared] if isinstance(declared, str) else declared
    if not isinstance(locales, list | tuple) or not locales:
        raise ValidationError(
            f"dataset meta locale(s): expected a locale or a list of them, got {declared!r}"
        )
    regions: list[str] = []
    for locale in locales:
        parts = str(locale).replace("_", "-").split("-")
        region = parts[-1].upper() if len(parts) > 1 else ""
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError(
                f'dataset meta locale "{locale}": give language and region, such as zh-CN '
                "or en-US (the region decides how phone numbers are read)"
            )
        if region not in regions:
            regions.append(region)
    return tuple(regions)
