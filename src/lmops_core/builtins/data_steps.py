"""Built-in data-preparation steps: exact and near-duplicate removal, length filters.

Each step reads the input dataset (role ``dataset``), writes a new JSONL with
the records it keeps (or, for a partitioned input, new partitions, one per input
partition), and reports what it removed as evidence on the output.
They are registered through ``register_data_steps`` like any plugin's steps,
and declared ``trylast`` so a plugin may offer better ones under other names.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from lmops_core.contracts import (
    AssetType,
    EvidenceKind,
    EvidenceRecord,
    Metric,
    NoParams,
    OperationParams,
    OutputAsset,
    Register,
    StageContext,
    StageResult,
)
from lmops_core.datasets.partitions import (
    PARTITIONED_FORMAT,
    PartitionWriter,
    partition_files,
    read_partition_records,
)
from lmops_core.datasets.shapes import text_fields
from lmops_core.errors import ValidationError
from lmops_core.extras import require
from lmops_core.hookspecs import hookimpl
from lmops_core.safepaths import join_inside


def _records(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``(canonical JSON without newline, record)`` per line of a canonical JSONL file."""
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                raw = line.rstrip(b"\n")
                yield raw, json.loads(raw)


def _joined_text(shape: str, record: Mapping[str, Any]) -> str:
    return "\n".join(t for _, t in text_fields(shape, record))


class _FilterStep:
    """Shared run loop: keep or drop each record, count, and describe the result."""

    name = ""
    description = ""
    params_model: type[OperationParams] = NoParams
    input_roles: Mapping[str, AssetType] = {"dataset": "dataset"}
    evidence_kinds = ("data_step",)

    def keep(self, shape: str, raw: bytes, record: dict[str, Any]) -> bool:
        raise NotImplementedError

    def configure(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return dict(params)

    def _filter(
        self,
        shape: str,
        records: Iterable[tuple[bytes, dict[str, Any]]],
        write: Callable[[bytes], object],
        context: StageContext,
    ) -> tuple[int, int]:
        """Write the canonical JSON of each record kept; return ``(kept, removed)``."""
        kept = removed = 0
        for raw, record in records:
            if self.keep(shape, raw, record):
                write(raw)
                kept += 1
            else:
                removed += 1
            context.progress.advance(1)
        return kept, removed

    def details(self) -> dict[str, Any]:
        """What the step adds to its evidence's details, besides its name and parameters."""
        return {}

    def run(self, context: StageContext) -> StageResult:
        used = self.configure(context.params)
        source = context.input("dataset")
        assert source.path is not None
        context.progress.start(self.name, total=None)
        if source.path.is_dir():
            # Partitioned: partition k of the output holds what is kept of partition k of the
            # input (same name, empty if nothing is), one partition in memory at a time.
            out_path = context.workdir / "data"
            kept = removed = 0
            for name, path in partition_files(source.path):
                writer = PartitionWriter(join_inside(out_path, name, what="partition"))
                k, r = self._filter(source.kind, read_partition_records(path), writer.add, context)
                writer.close(name)
                kept, removed = kept + k, removed + r
        else:
            out_path = context.workdir / "data.jsonl"
            with open(out_path, "wb") as out:
                kept, removed = self._filter(
                    source.kind,
                    _records(source.path),
                    lambda raw: out.writelines((raw, b"\n")),
                    context,
                )
        context.progress.finish()
        return StageResult(
            outputs=[
                OutputAsset(
                    role="dataset",
                    asset_type="dataset",
                    path=out_path,
                    kind=source.kind,
                    derived_from=["dataset"],
                    format=PARTITIONED_FORMAT if out_path.is_dir() else "jsonl",
                )
            ],
            evidence=[
                EvidenceRecord(
                    kind="data_step",
                    subject="dataset",
                    metrics={
                        "records_in": kept + removed,
                        "records_out": kept,
                        "records_removed": removed,
                    },
                    details={"step": self.name, "params": used, **self.details()},
                )
            ],
            metrics={"records_removed": float(removed)},
            params=used,
        )


class ExactDedup(_FilterStep):
    """Drop records whose canonical content was already seen."""

    name = "dedup-exact"
    description = "Remove exact duplicate records (same canonical JSON)."

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def run(self, context: StageContext) -> StageResult:
        self._seen = set()
        return super().run(context)

    def keep(self, shape: str, raw: bytes, record: dict[str, Any]) -> bool:
        key = hashlib.blake2b(raw.strip(), digest_size=16).digest()
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


class LengthParams(OperationParams):
    """Bounds on a record's total text length, in characters."""

    min_chars: int = Field(1, ge=0, description="shortest total text kept (characters)")
    max_chars: int = Field(100_000, ge=0, description="longest total text kept (characters)")

    @field_validator("max_chars")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        if value < info.data.get("min_chars", 0):
            raise ValueError("must be >= min_chars")
        return value


class LengthFilter(_FilterStep):
    """Keep records whose text length (characters, all text fields) is within bounds."""

    name = "length-filter"
    description = "Keep records with min_chars <= total text length <= max_chars."
    params_model = LengthParams

    def configure(self, params: Mapping[str, Any]) -> dict[str, Any]:
        self.lo, self.hi = int(params["min_chars"]), int(params["max_chars"])
        return {"min_chars": self.lo, "max_chars": self.hi}

    def keep(self, shape: str, raw: bytes, record: dict[str, Any]) -> bool:
        return self.lo <= len(_joined_text(shape, record)) <= self.hi


_WORD = re.compile(r"\w+", re.UNICODE)

#: What ``dedup-near`` may compare, per shape: record fields, or message roles for dialogues.
NEAR_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "instruction": ("system", "prompt", "response"),
    "preference": ("system", "prompt", "chosen", "rejected"),
    "dialogue": ("system", "user", "assistant"),
}
#: What it compares by default: the user's turns and the answers, never a shared system prompt.
NEAR_DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "instruction": ("prompt", "response"),
    "preference": ("prompt", "chosen", "rejected"),
    "dialogue": ("user", "assistant"),
}
_ALL_NEAR_FIELDS = sorted({f for names in NEAR_FIELDS.values() for f in names})


class NearDedupParams(OperationParams):
    """MinHash LSH settings, and which fields of a record are compared."""

    threshold: float = Field(
        0.8,
        gt=0.0,
        lt=1.0,
        description="Jaccard similarity of word shingles at or above which records are duplicates",
    )
    num_perm: int = Field(128, ge=1, le=4096, description="MinHash permutations")
    shingle: int = Field(3, ge=1, le=32, description="words per shingle")
    fields: list[str] | None = Field(
        None,
        description="fields compared (dialogue: message roles); default: the user's turns and "
        "the answers, not the system prompt",
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("name at least one field, or leave it out for the default")
        for name in value:
            if name not in _ALL_NEAR_FIELDS:
                raise ValueError(f'unknown field "{name}" (known: {", ".join(_ALL_NEAR_FIELDS)})')
        if len(set(value)) != len(value):
            raise ValueError("a field is named twice")
        return value


def near_fields(shape: str, fields: list[str] | None) -> tuple[str, ...]:
    """The fields ``dedup-near`` compares on records of ``shape``; refuses foreign names."""
    if fields is None:
        return NEAR_DEFAULT_FIELDS[shape]
    allowed = NEAR_FIELDS[shape]
    for name in fields:
        if name not in allowed:
            raise ValidationError(
                f'operation "dedup-near": parameter "fields": "{name}" is not a field of '
                f"{shape} records (fields: {', '.join(allowed)})",
                param="fields",
            )
    return tuple(fields)


def compared_text(shape: str, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The text of ``fields`` in ``record``, in record order (dialogue: by message role)."""
    if shape == "dialogue":
        parts = [m["content"] for m in record["messages"] if m.get("role") in fields]
    else:
        parts = [
            record[f] for f in NEAR_FIELDS[shape] if f in fields and isinstance(record.get(f), str)
        ]
    return "\n".join(parts)


class NearDedup(_FilterStep):
    """Drop records whose shingles are near (Jaccard >= threshold) those of one already kept.

    MinHash LSH (datasketch) only proposes candidates, tuned below the threshold so
    that few true duplicates are missed; each candidate is then checked by the exact
    Jaccard similarity of the two shingle sets, and the record is dropped only when
    one reaches the threshold.
    """

    name = "dedup-near"
    description = "Remove near-duplicates by MinHash LSH over word shingles (datasketch)."
    params_model = NearDedupParams
    #: How far below the threshold LSH looks for candidates (verification removes the excess).
    candidate_margin = 0.15

    def run(self, context: StageContext) -> StageResult:
        self.fields = near_fields(context.input("dataset").kind, context.params.get("fields"))
        return super().run(context)

    def configure(self, params: Mapping[str, Any]) -> dict[str, Any]:
        datasketch = require("datasketch", extra="dedup", feature=f"the {self.name} data step")
        import numpy  # declared in the dedup extra beside datasketch

        self._np = numpy
        self.threshold = float(params["threshold"])
        self.num_perm = int(params["num_perm"])
        self.shingle = int(params["shingle"])
        self._minhash = datasketch.MinHash
        self._lsh = datasketch.MinHashLSH(
            threshold=max(0.05, self.threshold - self.candidate_margin), num_perm=self.num_perm
        )
        self._kept: list[Any] = []  # sorted uint64 arrays of shingle hashes
        self.candidates = self.rejected = 0
        return {
            "threshold": self.threshold,
            "num_perm": self.num_perm,
            "shingle": self.shingle,
            "fields": params.get("fields"),
        }

    def details(self) -> dict[str, Any]:
        return {
            "fields_compared": list(self.fields),
            "similarity": "exact Jaccard of word shingles, LSH candidates only",
            "candidates_checked": self.candidates,
            "candidates_below_threshold": self.rejected,
        }

    def _shingles(self, text: str) -> set[bytes]:
        words = _WORD.findall(text.lower())
        if len(words) < self.shingle:
            # Short or CJK text without spaces: fall back to character shingles.
            chars = text.lower()
            last = max(1, len(chars) - self.shingle + 1)
            return {chars[i : i + self.shingle].encode() for i in range(last)}
        return {
            " ".join(words[i : i + self.shingle]).encode()
            for i in range(len(words) - self.shingle + 1)
        }

    def keep(self, shape: str, raw: bytes, record: dict[str, Any]) -> bool:
        text = compared_text(shape, record, self.fields)
        if not text.strip():
            # Nothing of the named fields to compare: not evidence of a duplicate.
            return True
        shingles = self._shingles(text)
        np = self._np
        hashed = np.unique(
            np.fromiter(
                (
                    int.from_bytes(hashlib.blake2b(s, digest_size=8).digest(), "little")
                    for s in shingles
                ),
                dtype=np.uint64,
                count=len(shingles),
            )
        )
        mh = self._minhash(num_perm=self.num_perm, seed=1)
        mh.update_batch(list(shingles))
        # In insertion order, so the counts in the evidence are the same on every run.
        for key in sorted(int(k) for k in self._lsh.query(mh)):
            self.candidates += 1
            if self._jaccard(hashed, self._kept[key]) >= self.threshold:
                return False
            self.rejected += 1
        self._lsh.insert(str(len(self._kept)), mh)
        self._kept.append(hashed)
        return True

    def _jaccard(self, a: Any, b: Any) -> float:
        """Jaccard similarity of two sorted arrays of distinct values (1.0 when both are empty)."""
        if not len(a) and not len(b):
            return 1.0
        common = len(self._np.intersect1d(a, b, assume_unique=True))
        return float(common / (len(a) + len(b) - common))


@hookimpl(trylast=True)
def register_data_steps(register: Register) -> None:
    """The built-in steps: ``dedup-exact``, ``dedup-near``, ``length-filter``."""
    register(ExactDedup())
    register(NearDedup())
    register(LengthFilter())


@hookimpl(trylast=True)
def register_evidence_kinds(register: Register) -> None:
    """The ``data_step`` kind: records in, out and removed by a preparation step."""
    register(
        EvidenceKind(
            name="data_step",
            description="What a data-preparation step removed.",
            metrics=[
                Metric("records_in", "integer", "records", headline=True),
                Metric("records_out", "integer", "records", headline=True),
                Metric("records_removed", "integer", "records", headline=True),
            ],
        )
    )
