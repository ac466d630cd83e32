"""Declared, validated operation parameters: an unknown or ill-typed one is an error naming it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lmops_core.errors import ValidationError

Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Param:
    """One accepted parameter: its name, accepted types, default and an optional rule.

    ``check`` returns a message when the value breaks the rule, else ``None``.
    """

    name: str
    types: tuple[type, ...]
    default: Any
    help: str
    check: Check | None = None
    nullable: bool = False


def positive(value: Any) -> str | None:
    """Rule: strictly greater than zero."""
    return None if value > 0 else "must be > 0"


def non_negative(value: Any) -> str | None:
    """Rule: zero or more."""
    return None if value >= 0 else "must be >= 0"


def one_of(*choices: str) -> Check:
    """Rule: one of ``choices``."""

    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int subclass in Python; a flag passed where a count belongs is a mistake.
    if isinstance(value, bool) and bool not in types:
        return False
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, types)


def resolve(operation: str, spec: list[Param], given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with ``given``, every value checked; raises :class:`ValidationError`."""
    known = {p.name: p for p in spec}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ValidationError(
            f'operation "{operation}": unknown param {unknown[0]!r} '
            f"(accepted: {', '.join(sorted(known))})",
            field=unknown[0],
        )
    out: dict[str, Any] = {}
    for p in spec:
        value = given.get(p.name, p.default)
        if value is None and (p.nullable or p.default is None):
            out[p.name] = None
            continue
        if not _type_ok(value, p.types):
            names = " or ".join(t.__name__ for t in p.types)
            raise ValidationError(
                f'operation "{operation}": param {p.name!r} must be {names}, '
                f"got {type(value).__name__} {value!r}",
                field=p.name,
            )
        if p.check is not None and (problem := p.check(value)) is not None:
            raise ValidationError(
                f'operation "{operation}": param {p.name!r} {problem} (got {value!r})',
                field=p.name,
            )
        out[p.name] = value
    return out
