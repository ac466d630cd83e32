"""Where the text lives in each canonical dataset shape.

Every shape has a fixed list of text fields. :func:`texts_of` pulls them out
of a record (validating it), :func:`with_texts` puts redacted texts back in
the same order; any other field of the record is kept as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lmops_core.errors import ValidationError

SHAPE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "instruction": ("system", "prompt", "response"),
    "text": ("text",),
    "preference": ("prompt", "chosen", "rejected"),
    "dialogue": ("messages[].content",),
}
"""The text fields redacted in each shape (``system`` is optional in ``instruction``)."""

_OPTIONAL = {("instruction", "system")}
_ROLES = ("system", "user", "assistant")


def check_shape(shape: str) -> None:
    """Raise :class:`ValidationError` unless ``shape`` is a canonical dataset shape."""
    if shape not in SHAPE_FIELDS:
        raise ValidationError(
            f'dataset shape "{shape}" is not supported (known: {", ".join(SHAPE_FIELDS)})'
        )


def texts_of(record: object, shape: str, where: str) -> list[tuple[str, str]]:
    """The ``(field, text)`` pairs of a record, in a fixed order.

    ``where`` (``file:line``) prefixes error messages.
    """
    if not isinstance(record, dict):
        raise ValidationError(f"{where}: expected a JSON object, got {type(record).__name__}")
    if shape == "dialogue":
        return _dialogue_texts(record, where)
    pairs: list[tuple[str, str]] = []
    for name in SHAPE_FIELDS[shape]:
        if name not in record or record[name] is None:
            if (shape, name) in _OPTIONAL:
                continue
            raise ValidationError(f'{where}: field "{name}" is missing (shape "{shape}")')
        value = record[name]
        if not isinstance(value, str):
            raise ValidationError(
                f'{where}: field "{name}" must be a string, got {type(value).__name__}'
            )
        pairs.append((name, value))
    return pairs


def _dialogue_texts(record: dict[str, Any], where: str) -> list[tuple[str, str]]:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError(f'{where}: field "messages" must be a non-empty list')
    pairs: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if not isinstance(message, dict):
            raise ValidationError(f'{where}: field "{field}" must be an object')
        if message.get("role") not in _ROLES:
            raise ValidationError(
                f'{where}: field "{field}.role" must be one of {", ".join(_ROLES)}, '
                f"got {message.get('role')!r}"
            )
        content = message.get("content")
        if not isinstance(content, str):
            raise ValidationError(f'{where}: field "{field}.content" must be a string')
        pairs.append(("messages[].content", content))
    return pairs


def with_texts(record: dict[str, Any], shape: str, texts: list[str]) -> dict[str, Any]:
    """A copy of ``record`` with its text fields replaced, in :func:`texts_of` order."""
    out = copy.deepcopy(record) if shape == "dialogue" else dict(record)
    if shape == "dialogue":
        for message, text in zip(out["messages"], texts, strict=True):
            message["content"] = text
        return out
    names = [name for name in SHAPE_FIELDS[shape] if out.get(name) is not None]
    for name, text in zip(names, texts, strict=True):
        out[name] = text
    return out
