"""Validation of operation parameters: an unknown or ill-typed param names itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lmops_core.errors import ValidationError


def check_known(operation: str, params: Mapping[str, Any], known: Iterable[str]) -> None:
    """Raise :class:`ValidationError` if ``params`` holds a name not in ``known``."""
    allowed = set(known)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError(
            f'operation "{operation}": unknown param "{unknown[0]}" '
            f"(accepted: {', '.join(sorted(allowed))})",
            param=unknown[0],
        )


def opt_int(
    operation: str, params: Mapping[str, Any], name: str, *, default: int | None, minimum: int = 0
) -> int | None:
    """The integer param ``name`` (``default`` when absent), at least ``minimum``."""
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(
            f'operation "{operation}": param "{name}" must be an integer >= {minimum}, '
            f"got {value!r}",
            param=name,
        )
    return value


def req_int(
    operation: str, params: Mapping[str, Any], name: str, *, default: int, minimum: int = 0
) -> int:
    """Like :func:`opt_int` but never ``None``."""
    value = opt_int(operation, params, name, default=default, minimum=minimum)
    if value is None:
        raise ValidationError(
            f'operation "{operation}": param "{name}" must not be null', param=name
        )
    return value


def str_list(
    operation: str, params: Mapping[str, Any], name: str, *, default: list[str] | None = None
) -> list[str]:
    """The param ``name`` as a list of non-empty strings (a single string is one item)."""
    value = params.get(name, default if default is not None else [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and v.strip() for v in value
    ):
        raise ValidationError(
            f'operation "{operation}": param "{name}" must be a list of non-empty strings, '
            f"got {value!r}",
            param=name,
        )
    return [str(v) for v in value]


def opt_str(operation: str, params: Mapping[str, Any], name: str) -> str | None:
    """The param ``name`` as a non-empty string, or ``None`` when absent."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            f'operation "{operation}": param "{name}" must be a non-empty string, got {value!r}',
            param=name,
        )
    return value
