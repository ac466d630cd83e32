"""Which fields of a window are text, numbers or categories, and what is measured on each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmops_core.errors import ValidationError
from lmops_evidently.jsonl import Row
from lmops_evidently.params import DESCRIPTORS, DriftParams

DEFAULT_TEXT_FIELDS: tuple[str, ...] = (
    "prompt",
    "response",
    "text",
    "system",
    "instruction",
    "input",
    "output",
    "completion",
    "question",
    "answer",
    "context",
    "chosen",
    "rejected",
)
"""Fields treated as text when the ``text_fields`` param is not given."""

RESPONSE_FIELDS = frozenset(
    (
        "response",
        "output",
        "completion",
        "answer",
        "chosen",
        "rejected",
        "text",
        "messages.assistant",
    )
)
"""Text fields written by a model, where the refusal descriptor is measured."""

MESSAGES = "messages"
ID_LIKE_MIN_ROWS = 20
DIALOGUE_ROLES: tuple[str, ...] = ("system", "user", "assistant")
TURNS_COLUMN = "messages.turns"


@dataclass(frozen=True)
class Schema:
    """The columns of the feature frames, inferred from the reference's first rows."""

    text_fields: tuple[str, ...]
    numeric_fields: tuple[str, ...]
    categorical_fields: tuple[str, ...]
    descriptors: tuple[str, ...]
    dialogue: bool = False
    ignored: dict[str, str] = field(default_factory=dict)
    embedding_fields: tuple[str, ...] = ()

    def descriptor_columns(self, text_field: str) -> list[tuple[str, str, str]]:
        """(column, descriptor, "num"|"cat") for each descriptor measured on ``text_field``."""
        columns = []
        for name in self.descriptors:
            if name == "refusal" and text_field not in RESPONSE_FIELDS:
                continue
            kind = "cat" if name == "lang" else "num"
            columns.append((f"{text_field}.{name}", name, kind))
        return columns

    def descriptors_of(self, text_field: str) -> set[str]:
        """The descriptors measured on ``text_field`` (see :meth:`descriptor_columns`)."""
        return {descriptor for _, descriptor, _ in self.descriptor_columns(text_field)}

    @property
    def numeric_columns(self) -> list[str]:
        """Every numeric column of the feature frames, in frame order."""
        columns = [
            c for f in self.text_fields for c, _, k in self.descriptor_columns(f) if k == "num"
        ]
        if self.dialogue:
            columns.append(TURNS_COLUMN)
        return columns + list(self.numeric_fields)

    @property
    def categorical_columns(self) -> list[str]:
        """Every categorical column of the feature frames, in frame order."""
        columns = [
            c for f in self.text_fields for c, _, k in self.descriptor_columns(f) if k == "cat"
        ]
        return columns + list(self.categorical_fields)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _dialogue_roles(rows: Sequence[Row]) -> list[str]:
    present: set[object] = set()
    for _, record in rows:
        messages = record.get(MESSAGES)
        if isinstance(messages, list):
            present.update(m.get("role") for m in messages if isinstance(m, dict))
    return [f"{MESSAGES}.{role}" for role in DIALOGUE_ROLES if role in present]


def infer_schema(
    rows: Sequence[Row],
    params: DriftParams,
    path: Path,
    descriptors: Sequence[str] = DESCRIPTORS,
) -> Schema:
    """Classify the fields seen in ``rows`` (the reference's first rows).

    Strings become text when named as text fields, else categories when they
    take at most ``max_categories`` values, else they are ignored (ids, free
    text nobody named); numbers stay numbers; nested values are ignored unless
    they are a dialogue's ``messages``.
    """
    seen: dict[str, list[Any]] = {}
    for _, record in rows:
        for name, value in record.items():
            seen.setdefault(name, []).append(value)
    excluded = set(params.exclude_fields)
    if params.text_fields is not None:
        for name in params.text_fields:
            if name not in seen:
                raise ValidationError(
                    f'param "text_fields": field "{name}" does not occur in the first '
                    f"{len(rows)} records of the reference {path}",
                    param="text_fields",
                )
        wanted_text = [n for n in params.text_fields if n not in excluded]
    else:
        wanted_text = [n for n in DEFAULT_TEXT_FIELDS if n in seen and n not in excluded]
        if MESSAGES in seen and MESSAGES not in excluded:
            wanted_text.append(MESSAGES)
    dialogue = MESSAGES in wanted_text
    text_fields = [n for n in wanted_text if n != MESSAGES]
    if dialogue:
        text_fields += _dialogue_roles(rows)

    numeric: list[str] = []
    categorical: list[str] = []
    ignored: dict[str, str] = {}
    for name, values in seen.items():
        if name in excluded or name in wanted_text:
            continue
        present = [v for v in values if v is not None]
        if not present:
            ignored[name] = "always null in the reference's first rows"
        elif any(isinstance(v, dict | list) for v in present):
            ignored[name] = "nested values"
        elif all(_is_number(v) for v in present):
            numeric.append(name)
        else:
            distinct = len({category_value(v) for v in present})
            # Mostly-unique strings are identifiers even below max_categories (a small
            # sample of request ids must not turn into a category).
            id_like = len(present) >= ID_LIKE_MIN_ROWS and distinct > len(present) / 2
            if distinct <= params.max_categories and not id_like:
                categorical.append(name)
            elif id_like and distinct <= params.max_categories:
                ignored[name] = (
                    f"identifier-like: {distinct} distinct values in {len(present)} rows"
                )
            else:
                ignored[name] = (
                    f"{distinct} distinct values in the reference's first rows "
                    f"(max_categories={params.max_categories}); name it in text_fields "
                    "to measure it as text"
                )
    for name in params.embedding_fields or ():
        if name not in text_fields:
            raise ValidationError(
                f'param "embedding_fields": "{name}" is not a text field of the reference '
                f"{path} (text fields: {', '.join(text_fields) or 'none'})",
                param="embedding_fields",
            )
    return Schema(
        embedding_fields=tuple(params.embedding_fields or ()),
        text_fields=tuple(text_fields),
        numeric_fields=tuple(numeric),
        categorical_fields=tuple(categorical),
        descriptors=tuple(descriptors),
        dialogue=dialogue,
        ignored=ignored,
    )


def category_value(value: Any) -> str:
    """The category label of a scalar JSON value (JSON spelling for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
