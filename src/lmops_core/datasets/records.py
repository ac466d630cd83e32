"""Strict JSON for dataset records: one meaning per byte string, or a reason why not.

Python's ``json`` accepts things other readers do not (``NaN``, ``Infinity``,
duplicate keys where the last one silently wins, lone UTF-16 surrogates) and
fails with a traceback on others (deep nesting, integers of thousands of
digits). A dataset record must mean the same thing to every reader that
consumes the canonical file, so each of these is refused with a reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

#: Deepest nesting of objects and arrays a record may have (a dialogue needs 3).
MAX_DEPTH = 64
#: Longest integer literal, in digits; beyond 64 bits readers disagree anyway.
MAX_INT_DIGITS = 40

_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class RecordJSONError(ValueError):
    """A record is not strict JSON; ``str(err)`` is the reason, for ``file:line: reason``."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise RecordJSONError(f"duplicate key {_short(key)!r} in a JSON object")
        obj[key] = value
    return obj


def _constant(name: str) -> Any:
    raise RecordJSONError(f"{name} is not a JSON number (use null or a finite number)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise RecordJSONError(f"number {_short(text)} is out of range for a 64-bit float")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise RecordJSONError(f"integer of {digits} digits (at most {MAX_INT_DIGITS} allowed)")
    return int(text)


_DECODER = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float, parse_int=_int
)


def parse_record(text: str) -> Any:
    """Parse one JSON record strictly; :class:`RecordJSONError` says what is wrong."""
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise RecordJSONError(f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise RecordJSONError(f"JSON nested too deeply (at most {MAX_DEPTH} levels)") from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Refuse anything that is not plain, finite, well-formed JSON data of bounded depth.

    Used for parsed JSONL records and for Parquet rows (which may hold bytes,
    timestamps, NaN...). Iterative, so depth cannot exhaust the stack.
    """
    stack: list[tuple[Any, int, str]] = [(value, 1, "<record>")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, Mapping | list | tuple) and depth > MAX_DEPTH:
            raise RecordJSONError(f"JSON nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, Mapping):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise RecordJSONError(f"{where}: object key {key!r} is not a string")
                _check_text(key, where)
                stack.append((sub, depth + 1, key if where == "<record>" else f"{where}.{key}"))
        elif isinstance(item, list | tuple):
            stack.extend((sub, depth + 1, f"{where}[{i}]") for i, sub in enumerate(item))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise RecordJSONError(f"{where}: {item} is not a JSON number")
        elif item is None or isinstance(item, bool | int):
            continue
        else:
            raise RecordJSONError(
                f"{where}: a {type(item).__name__} value cannot be stored "
                "as JSON (use strings, numbers, booleans, lists, objects)"
            )


def _check_text(text: str, where: str) -> None:
    found = _SURROGATE_RE.search(text)
    if found is not None:
        raise RecordJSONError(
            f"{where}: lone UTF-16 surrogate \\u{ord(found.group()):04x} is not a character"
        )


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
