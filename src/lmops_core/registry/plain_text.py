"""Text a user hands the SDK, checked before it reaches the database.

SQLite and PostgreSQL disagree on what a string may hold: PostgreSQL refuses NUL
characters, and neither driver can encode a lone UTF-16 surrogate. Both are
refused here with the field named, so every backend gives the same clear error
instead of a driver traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from lmops_core.errors import ValidationError

_BAD_RE = re.compile("[\x00\ud800-\udfff]")


def check_text(value: Any, field: str, *, max_length: int | None = None) -> str:
    """``value`` if it is a string without NUL or lone surrogates (and not too long)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    bad = _BAD_RE.search(value)
    if bad is not None:
        what = (
            "a NUL character"
            if bad.group() == "\x00"
            else f"a lone UTF-16 surrogate (\\u{ord(bad.group()):04x})"
        )
        raise ValidationError(f"{field} contains {what} at position {bad.start()}", field=field)
    if max_length is not None and len(value) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters", field=field)
    return value


def check_json_text(value: Any, field: str) -> None:
    """Every string (and key) inside JSON-like ``value`` passes :func:`check_text`."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item, field)
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                if isinstance(key, str):
                    check_text(key, f"{field} key")
                stack.append(sub)
        elif isinstance(item, list | tuple):
            stack.extend(item)


def json_clean(value: Any, where: str) -> Any:
    """``value`` as plain JSON (dates and paths become strings), refused naming ``where``
    when it holds NaN or infinity, nests too deeply, or carries text no database stores."""
    try:
        clean = json.loads(json.dumps(value, allow_nan=False, default=str))
    except ValueError as exc:
        raise ValidationError(f"{where} is not valid JSON (NaN or infinity?): {exc}") from exc
    except RecursionError:
        raise ValidationError(f"{where} is nested too deeply") from None
    check_json_text(clean, where)
    return clean
