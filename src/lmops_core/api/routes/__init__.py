"""The API's routers, one module per resource."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _clean_text(value: str) -> str:
    # Databases refuse NUL characters and lone surrogates; refuse them here as a 422
    # instead of letting the driver fail with a 500.
    if "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


#: A string that can be stored: no NUL, valid UTF-8.
Text = Annotated[str, AfterValidator(_clean_text)]

__all__ = ["Text"]
