"""The dataset shapes lmops understands, and record validation against them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, get_args

from lmops_core.terms import MessageRole

SHAPES = ("instruction", "dialogue", "text", "preference")
#: Who may speak in a dialogue record (message roles; not user roles, not input roles).
MESSAGE_ROLES: tuple[MessageRole, ...] = get_args(MessageRole)

_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # shape: (required string fields, optional string fields)
    "instruction": (("prompt", "response"), ("system",)),
    "text": (("text",), ()),
    "preference": (("prompt", "chosen", "rejected"), ("system",)),
}


class RecordError(ValueError):
    """A record does not match its shape; ``field`` is a path like ``messages[2].role``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def validate_record(shape: str, record: Any) -> None:
    """Raise :class:`RecordError` naming the first field that breaks the shape."""
    if not isinstance(record, Mapping):
        raise RecordError("<record>", f"expected a JSON object, got {type(record).__name__}")
    if shape == "dialogue":
        _validate_dialogue(record)
        return
    required, optional = _FIELDS[shape]
    for name in required:
        if name not in record:
            raise RecordError(name, "missing required field")
        if not isinstance(record[name], str):
            raise RecordError(name, f"expected a string, got {type(record[name]).__name__}")
        if not record[name].strip():
            raise RecordError(name, "must not be empty")
    for name in optional:
        if name in record and record[name] is not None and not isinstance(record[name], str):
            raise RecordError(name, f"expected a string, got {type(record[name]).__name__}")


def _validate_dialogue(record: Mapping[str, Any]) -> None:
    messages = record.get("messages")
    if messages is None:
        raise RecordError("messages", "missing required field")
    if not isinstance(messages, list) or not messages:
        raise RecordError("messages", "expected a non-empty list of messages")
    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise RecordError(where, "expected an object with role and content")
        role = msg.get("role")
        if role not in MESSAGE_ROLES:
            raise RecordError(
                f"{where}.role", f"expected one of {'/'.join(MESSAGE_ROLES)}, got {role!r}"
            )
        if not isinstance(msg.get("content"), str):
            raise RecordError(f"{where}.content", "expected a string")
    if not any(m.get("role") == "assistant" for m in messages):
        raise RecordError("messages", "a dialogue needs at least one assistant message")


def text_fields(shape: str, record: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every text field of a valid record, as ``(field path, text)``."""
    if shape == "dialogue":
        for i, msg in enumerate(record["messages"]):
            yield f"messages[{i}].content", msg["content"]
        return
    required, optional = _FIELDS[shape]
    for name in required + optional:
        value = record.get(name)
        if isinstance(value, str):
            yield name, value
