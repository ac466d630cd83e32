"""Records to texts and back: what ``pii-redact`` does around the guard, wherever it runs.

The step's process uses it on a JSONL input (it parses the records, a worker redacts
their texts, the step writes). A worker uses it whole on a batch of partition rows
(:class:`RedactRows`): it parses, redacts and writes the output rows' canonical JSON
itself, and the step only writes them out and adds up the counts, so both paths give
the same records and the same tally. On partitions left in the artifact store
(:class:`RedactStored`) the worker also writes and stores them, and only the counts come
back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lmops_core.errors import ValidationError
from lmops_core.kit import canonical_json
from lmops_presidio.config import GuardConfig
from lmops_presidio.shapes import texts_of, with_texts

if TYPE_CHECKING:
    from lmops_core.kit import Rewritten, Rows
    from lmops_presidio.chunks import ChunkResult


@dataclass
class Tally:
    """Counts gathered while redacting (numbers only: no text); tallies add up."""

    records: int = 0
    records_touched: int = 0
    fields: Counter[str] = field(default_factory=Counter)
    fields_touched: Counter[str] = field(default_factory=Counter)
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    same_span: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Tally) -> None:
        """Add ``other``'s counts to these."""
        self.records += other.records
        self.records_touched += other.records_touched
        for name in ("fields", "fields_touched", "before", "after", "same_span"):
            getattr(self, name).update(getattr(other, name))


@dataclass(frozen=True)
class Record:
    """A parsed record with its text fields' names and texts, in shape order."""

    data: dict[str, Any]
    fields: list[str]
    texts: list[str]


def parse_record(raw: bytes, shape: str, where: str) -> Record:
    """One record's JSON bytes, checked against ``shape``; errors name ``where`` (file:row)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{where}: not valid UTF-8 ({exc.reason})") from None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{where}: not valid JSON ({exc.msg})") from None
    pairs = texts_of(record, shape, where)
    return Record(record, [name for name, _ in pairs], [text for _, text in pairs])


def redacted_rows(
    chunk: list[Record], result: ChunkResult, shape: str, tally: Tally
) -> Iterator[bytes]:
    """The canonical JSON of each record of ``chunk`` with its redacted texts; counts into
    ``tally``."""
    position = 0
    for record in chunk:
        count = len(record.texts)
        texts = result.texts[position : position + count]
        touched = result.touched[position : position + count]
        position += count
        for name, changed in zip(record.fields, touched, strict=True):
            tally.fields[name] += 1
            tally.fields_touched[name] += int(changed)
        tally.records += 1
        tally.records_touched += int(any(touched))
        data = with_texts(record.data, shape, texts) if any(touched) else record.data
        yield canonical_json(data)
    tally.before.update(result.before)
    tally.after.update(result.after)
    tally.same_span.update(result.same_span)


@dataclass(frozen=True)
class RedactedRows:
    """A batch of partition rows redacted on a worker: the output rows and their counts."""

    lines: list[bytes]
    tally: Tally


@dataclass(frozen=True)
class RedactRows:
    """A data engine's per-worker setup for partition rows: the guard built once, then
    each batch parsed, redacted ``chunk_size`` records at a time and written as rows."""

    config: GuardConfig
    shape: str
    chunk_size: int

    def __call__(self) -> Callable[[Rows], RedactedRows]:
        from lmops_presidio.worker import init_worker

        init_worker(self.config)
        return self.redact

    def redact(self, rows: Rows) -> RedactedRows:
        """The redacted rows of one batch (see the class)."""
        from lmops_presidio.worker import redact_in_worker

        lines: list[bytes] = []
        tally = Tally()
        for start in range(0, len(rows.lines), self.chunk_size):
            chunk = [
                parse_record(raw, self.shape, rows.where(start + i))
                for i, raw in enumerate(rows.lines[start : start + self.chunk_size])
            ]
            result = redact_in_worker([text for record in chunk for text in record.texts])
            lines.extend(redacted_rows(chunk, result, self.shape, tally))
        return RedactedRows(lines, tally)


@dataclass(frozen=True)
class RedactStored:
    """:class:`RedactRows` for partitions in the artifact store: each batch's rows go into
    the output partition the worker stores, and only its tally comes back."""

    redact: RedactRows

    def __call__(self) -> Callable[[Rows], Rewritten]:
        from lmops_core.kit import Rewritten

        function = self.redact()

        def rewrite(rows: Rows) -> Rewritten:
            done = function(rows)
            return Rewritten(done.lines, done.tally)

        return rewrite
