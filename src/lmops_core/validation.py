"""What a value must be before it goes near the database, checked in one place.

PostgreSQL refuses NUL characters in text, integers beyond its column types
and ``NaN`` in JSON; SQLite accepts some of them and stores what PostgreSQL
would refuse. Either way the caller should get a :class:`ValidationError`
naming the argument, never a driver traceback. :func:`checked_public` wraps
every public method of an SDK class so that each argument is checked by the
same rules:

* text: no NUL, valid Unicode (no lone surrogates), at most the column's length
  where the argument's name says which column (:data:`TEXT_LIMITS`);
* integers: within the range of the column they are compared with or stored in
  (:data:`INT_BOUNDS` by argument name; otherwise a signed 64-bit integer);
  booleans are not integers here;
* floats: finite (JSON has no NaN or infinity);
* dicts, lists and tuples (metadata, tags, metrics, parameters): the same,
  recursively, keys included, the field named by its path (``meta.owner``).

Other objects (paths, callables, settings) are left to the method.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from lmops_core.errors import ValidationError

INT32_MAX = 2**31 - 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: Ranges of integer arguments, by name (``after_seq`` is the 64-bit audit sequence).
INT_BOUNDS: dict[str, tuple[int, int]] = {
    "limit": (0, INT64_MAX),
    "offset": (0, INT64_MAX),
    "after_seq": (0, INT64_MAX),
    "depth": (0, INT32_MAX),
}
#: Longest text an argument may carry, by name or ``method.name`` (the column it fills).
TEXT_LIMITS: dict[str, int] = {
    "description": 4000,
    "create_token.description": 256,
    "user": 128,
    "actor": 128,
    "tag.key": 128,
    "tag.value": 512,
    "set_alias.alias": 64,
    "attach_evidence.kind": 64,
    "attach_evidence.stage": 32,
    "comment": 10_000,
    "reason": 10_000,
}
#: Depth at which nested data is refused (a guard against self-referencing structures).
MAX_DEPTH = 64

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def check_text(
    value: str, field: str, *, max_length: int | None = None, what: str | None = None
) -> str:
    """``value`` if it can be stored as text; else a ValidationError naming ``field``.

    ``what`` names the value in the message when it is not the field itself (a key of
    it). The message never repeats the value: it may be a secret.
    """
    what = what or field
    if "\x00" in value:
        raise ValidationError(f"{what} must be text without NUL bytes", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(
            f"{what} must be valid Unicode (no lone surrogates)", field=field
        ) from None
    if max_length is not None and len(value) > max_length:
        raise ValidationError(
            f"{what} must be at most {max_length} characters (got {len(value)})", field=field
        )
    return value


def check_int(value: int, field: str, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """``value`` if it lies in ``[minimum, maximum]``; else a ValidationError naming ``field``."""
    if not minimum <= value <= maximum:
        raise ValidationError(
            f"{field} must be between {minimum} and {maximum} (got {value})",
            field=field,
            minimum=minimum,
            maximum=maximum,
        )
    return value


def check_value(
    value: Any,
    field: str,
    *,
    max_length: int | None = None,
    bounds: tuple[int, int] = (INT64_MIN, INT64_MAX),
    _depth: int = 0,
) -> Any:
    """Check ``value`` (and what it holds) by the rules of the module docstring."""
    if _depth > MAX_DEPTH:
        raise ValidationError(f"{field} is nested more than {MAX_DEPTH} levels deep", field=field)
    if isinstance(value, str):
        check_text(value, field, max_length=max_length)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int):
        check_int(value, field, minimum=bounds[0], maximum=bounds[1])
    elif isinstance(value, float):
        if not math.isfinite(value):
            root = field.split(".", 1)[0].split("[", 1)[0]
            raise ValidationError(
                f"{root} is not valid JSON: {field} must be a finite number (not NaN or infinity)",
                field=field,
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{field}.{key}" if isinstance(key, str) and "\x00" not in key else field
            if isinstance(key, str):
                check_text(key, field, what=f"a key of {field}")
            check_value(item, where, _depth=_depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            check_value(item, f"{field}[{index}]", _depth=_depth + 1)
    return value


def checked(func: F) -> F:
    """Wrap ``func`` so every argument is checked (:func:`check_value`) before it runs.

    The items of a ``**options`` argument are checked as the arguments they stand for,
    each under its own name.
    """
    signature = inspect.signature(func)
    method = func.__name__
    spread = {p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD}

    def arguments(bound: inspect.BoundArguments) -> Iterator[tuple[str, Any]]:
        for name, value in bound.arguments.items():
            if name in spread:
                yield from value.items()
            elif name not in ("self", "cls"):
                yield name, value

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            return func(*args, **kwargs)  # let Python report the bad call itself
        for name, value in arguments(bound):
            limit = TEXT_LIMITS.get(f"{method}.{name}", TEXT_LIMITS.get(name))
            bounds = INT_BOUNDS.get(name, (INT64_MIN, INT64_MAX))
            check_value(value, name, max_length=limit, bounds=bounds)
        return func(*args, **kwargs)

    wrapper.__lmops_checked__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def checked_public(cls: C) -> C:
    """Class decorator: :func:`checked` on every public method ``cls`` defines."""
    for name, member in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        if getattr(member, "__lmops_checked__", False):
            continue
        setattr(cls, name, checked(member))
    return cls


__all__ = [
    "INT32_MAX",
    "INT64_MAX",
    "INT64_MIN",
    "INT_BOUNDS",
    "TEXT_LIMITS",
    "check_int",
    "check_text",
    "check_value",
    "checked",
    "checked_public",
]
