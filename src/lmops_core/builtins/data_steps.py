"""Built-in data-preparation steps: exact and near-duplicate removal, length filters.

Each step reads the input dataset (role ``dataset``), writes a new JSONL with
the records it keeps (or, for a partitioned input, new partitions, one per input
partition), and reports what it removed as evidence on the output.
They are registered through ``register_data_steps`` like any plugin's steps,
and declared ``trylast`` so a plugin may offer better ones under other names.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from lmops_core.builtins.near_signatures import NEAR_FIELDS, NearChunk, NearSignatures
from lmops_core.contracts import (
    AssetType,
    EvidenceKind,
    EvidenceRecord,
    Metric,
    OperationParams,
    OutputAsset,
    Register,
    StageContext,
    StageResult,
)
from lmops_core.datasets.partitions import PARTITIONED_FORMAT
from lmops_core.datasets.parts import PartOutputs, dataset_parts
from lmops_core.datasets.row_batches import (
    KeptRows,
    KeptStored,
    OnLines,
    RowBatch,
    map_row_batches,
    map_stored_row_batches,
    write_kept_partitions,
    write_kept_to_store,
)
from lmops_core.datasets.shapes import text_fields
from lmops_core.datasets.stored import StoredDataset, write_listing
from lmops_core.errors import StageError, ValidationError
from lmops_core.extras import require
from lmops_core.hookspecs import hookimpl
from lmops_core.runtimes import ChunkFunction, ChunkMapper, DataEngine, PlannedMapper, Ready
from lmops_core.safepaths import join_inside

#: Records per chunk handed to a data engine (small enough to spread, large enough to batch).
CHUNK_RECORDS = 2000


def _lines(path: Path) -> Iterator[bytes]:
    """The canonical JSON of each record (without its newline) of a canonical JSONL file.

    Not parsed here: the engine's workers parse what their chunk function needs.
    """
    with open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield line.rstrip(b"\n")


def _joined_text(shape: str, record: Mapping[str, Any]) -> str:
    return "\n".join(t for _, t in text_fields(shape, record))


class EngineParams(OperationParams):
    """Where a step runs its per-record work; the output and evidence are the same anywhere."""

    engine: str | None = Field(
        None,
        min_length=1,
        description="data engine (local, or one a plugin offers: ray); default: the one "
        "configured (LMOPS_RAY_ADDRESS...), else local",
    )


class _FilterStep:
    """Shared run loop: the engine maps chunks, the step keeps or drops each record in order.

    A step says what runs per chunk on the engine's workers (:meth:`setup`) and
    what to keep from those results (:meth:`decide`, called chunk by chunk in
    input order in this process), so every engine writes the same file and the
    same evidence. A partitioned input goes to the engine row group by row group
    (:mod:`lmops_core.datasets.row_batches`); on an engine that plans work, its
    workers also write the kept rows. A partitioned input left in an object store
    (``InputAsset.stored``) never reaches this process: the workers fetch, compute,
    write and store partitions there, and the output is the listing they report.
    """

    name = ""
    description = ""
    params_model: type[OperationParams] = EngineParams
    input_roles: Mapping[str, AssetType] = {"dataset": "dataset"}
    evidence_kinds = ("data_step",)
    #: On a cluster engine with an object store, the workers read and write the partitions
    #: there themselves (:meth:`_filter_in_store`).
    reads_stored_partitions = True

    def setup(self, shape: str) -> Callable[[], ChunkFunction]:
        """A picklable factory of the function each worker runs on a chunk of raw lines."""
        raise NotImplementedError

    def decide(self, shape: str, lines: list[bytes], results: Any) -> list[bool]:
        """Which lines of a chunk to keep, from that chunk's results (chunks come in order).

        ``lines`` is empty when the engine's workers kept the rows (partitions on an engine
        that plans work): decide from ``results`` alone, one verdict per row.
        """
        raise NotImplementedError

    def configure(self, params: Mapping[str, Any]) -> dict[str, Any]:
        # Where it ran changes nothing in the output, so it stays out of the evidence.
        return {k: v for k, v in params.items() if k != "engine"}

    def details(self) -> dict[str, Any]:
        """What the step adds to its evidence's details, besides its name and parameters."""
        return {}

    def _filter(
        self,
        batches: Iterable[tuple[int, list[bytes], Any]],
        outputs: PartOutputs,
        context: StageContext,
        shape: str,
    ) -> tuple[int, int]:
        """Write the canonical JSON of each record kept, batch by batch; ``(kept, removed)``."""
        kept = removed = 0
        for index, lines, results in batches:
            write = outputs.writer(index)
            for raw, keep in zip(lines, self.decide(shape, lines, results), strict=True):
                if keep:
                    write(raw)
                    kept += 1
                else:
                    removed += 1
            context.progress.advance(len(lines))
        return kept, removed

    def _line_batches(
        self, shape: str, files: Sequence[Path], mapper: ChunkMapper
    ) -> Iterator[tuple[int, list[bytes], Any]]:
        """``(part, lines, results)`` per chunk of one-file input, fed by this process."""
        in_flight: deque[tuple[int, list[bytes]]] = deque()

        def chunks() -> Iterator[list[bytes]]:
            for index, path in enumerate(files):
                chunk: list[bytes] = []
                for raw in _lines(path):
                    chunk.append(raw)
                    if len(chunk) >= CHUNK_RECORDS:
                        in_flight.append((index, chunk))
                        yield chunk
                        chunk = []
                if chunk:
                    in_flight.append((index, chunk))
                    yield chunk

        for results in mapper.map_chunks(self.setup(shape), chunks()):
            index, chunk = in_flight.popleft()
            yield index, chunk, results

    def _filter_on_workers(
        self,
        shape: str,
        files: Sequence[tuple[str, Path]],
        out_path: Path,
        context: StageContext,
        mapper: PlannedMapper,
    ) -> tuple[int, int]:
        """Partitions on an engine that plans work (Ray Data): its workers read the row
        groups and compute, this process decides in input order on the results alone (a
        byte per row), then the workers write each partition's kept rows. ``(kept, removed)``."""
        masks = [bytearray() for _ in files]
        setup = OnLines(self.setup(shape))
        for batch in map_row_batches(mapper, setup, [p for _, p in files], ship_rows=False):
            masks[batch.part].extend(self._decided(shape, batch))
            context.progress.advance(batch.count)
        jobs = [
            KeptRows(str(path), bytes(mask), str(join_inside(out_path, name, what="partition")))
            for (name, path), mask in zip(files, masks, strict=True)
        ]
        kept = write_kept_partitions(mapper, jobs)
        return kept, sum(len(mask) for mask in masks) - kept

    def _filter_in_store(
        self, shape: str, source: StoredDataset, context: StageContext, mapper: ChunkMapper
    ) -> tuple[Path, int, int]:
        """Partitions left in the artifact store: the workers fetch them (digests checked)
        and compute, this process decides on the results, then the workers write and store
        each kept partition. The output is the listing of what they stored (this process
        never holds the rows); the runner checks those partitions and assembles the version.
        ``(listing, kept, removed)``."""
        parts = source.partitions()
        masks = [bytearray() for _ in parts]
        setup = OnLines(self.setup(shape))
        for batch in map_stored_row_batches(mapper, setup, parts, ship_rows=False):
            masks[batch.part].extend(self._decided(shape, batch))
            context.progress.advance(batch.count)
        jobs = [KeptStored(part, bytes(mask)) for part, mask in zip(parts, masks, strict=True)]
        written = write_kept_to_store(mapper, jobs)
        listing = context.workdir / "data.partitions.json"
        kept = write_listing(listing, shape=shape, partitions=written).records
        return listing, kept, sum(len(mask) for mask in masks) - kept

    def _decided(self, shape: str, batch: RowBatch) -> list[bool]:
        keep = self.decide(shape, [], batch.result)
        if len(keep) != batch.count:
            raise StageError(
                f"{self.name}: {len(keep)} decisions for the {batch.count} rows of "
                f"{batch.rows.source} from row {batch.rows.first}"
            )
        return keep

    def _row_batches(
        self, shape: str, files: Sequence[Path], mapper: ChunkMapper
    ) -> Iterator[tuple[int, list[bytes], Any]]:
        """``(part, lines, results)`` per row group of partitions the workers read."""
        for batch in map_row_batches(mapper, OnLines(self.setup(shape)), files):
            yield batch.part, batch.rows.lines, batch.result

    def run(self, context: StageContext) -> StageResult:
        used = self.configure(context.params)
        source = context.input("dataset")
        mapper: ChunkMapper = context.data_engine(context.params.get("engine"))
        context.progress.start(self.name, total=None)
        if source.stored is not None and isinstance(mapper, PlannedMapper):
            listing, kept, removed = self._filter_in_store(
                source.kind, source.stored, context, mapper
            )
            result = self._result(
                context, (listing, PARTITIONED_FORMAT), (kept, removed), used, mapper
            )
            # Where the partitions went, for the run's record (the evidence stays the same).
            result.info["partitions"] = "read and written by the workers in the artifact store"
            return result
        in_path = source.local_path(context.workdir / "input")
        # Partitioned: partition k of the output holds what is kept of partition k of the
        # input (same name, empty if nothing is), one partition open at a time.
        partitioned = in_path.is_dir()
        out_path = context.workdir / ("data" if partitioned else "data.jsonl")
        files = dataset_parts(in_path)
        paths = [path for _, path in files]
        if partitioned and isinstance(mapper, PlannedMapper):
            kept, removed = self._filter_on_workers(source.kind, files, out_path, context, mapper)
            fmt = PARTITIONED_FORMAT
        else:
            # Every part goes to the engine in one pass, so its workers start once.
            batches = (self._row_batches if partitioned else self._line_batches)(
                source.kind, paths, mapper
            )
            names = [name for name, _ in files]
            with PartOutputs(out_path, names, partitioned=partitioned) as out:
                kept, removed = self._filter(batches, out, context, source.kind)
            fmt = out.format
        return self._result(context, (out_path, fmt), (kept, removed), used, mapper)

    def _result(
        self,
        context: StageContext,
        output: tuple[Path, str],
        counts: tuple[int, int],
        used: dict[str, Any],
        mapper: ChunkMapper,
    ) -> StageResult:
        """The output (path, format) and its evidence: the same whichever engine ran."""
        (out_path, fmt), (kept, removed) = output, counts
        context.progress.finish()
        return StageResult(
            outputs=[
                OutputAsset(
                    role="dataset",
                    asset_type="dataset",
                    path=out_path,
                    kind=context.input("dataset").kind,
                    derived_from=["dataset"],
                    format=fmt,
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
            # The run records where it ran; the evidence, the same anywhere, does not.
            params={**used, "engine": mapper.name},
        )


class ExactDedup(_FilterStep):
    """Drop records whose canonical content was already seen."""

    name = "dedup-exact"
    description = "Remove exact duplicate records (same canonical JSON)."

    def setup(self, shape: str) -> Callable[[], ChunkFunction]:
        return Ready(exact_keys)

    def decide(self, shape: str, lines: list[bytes], results: Any) -> list[bool]:
        keep = []
        for key in results:
            keep.append(key not in self._seen)
            self._seen.add(key)
        return keep

    def run(self, context: StageContext) -> StageResult:
        self._seen: set[bytes] = set()
        return super().run(context)


def exact_keys(lines: list[bytes]) -> list[bytes]:
    """The key ``dedup-exact`` compares for each raw line: a hash of its canonical JSON."""
    return [hashlib.blake2b(raw.strip(), digest_size=16).digest() for raw in lines]


class LengthParams(EngineParams):
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

    def setup(self, shape: str) -> Callable[[], ChunkFunction]:
        return Ready(functools.partial(length_keeps, shape, self.lo, self.hi))

    def decide(self, shape: str, lines: list[bytes], results: Any) -> list[bool]:
        return list(results)


def length_keeps(shape: str, lo: int, hi: int, lines: list[bytes]) -> list[bool]:
    """Whether each raw line's total text length is within ``lo..hi`` characters."""
    return [lo <= len(_joined_text(shape, json.loads(raw))) <= hi for raw in lines]


#: What it compares by default: the user's turns and the answers, never a shared system prompt.
NEAR_DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "instruction": ("prompt", "response"),
    "preference": ("prompt", "chosen", "rejected"),
    "dialogue": ("user", "assistant"),
}
_ALL_NEAR_FIELDS = sorted({f for names in NEAR_FIELDS.values() for f in names})


class NearDedupParams(EngineParams):
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


class NearDedup(_FilterStep):
    """Drop records whose shingles are near (Jaccard >= threshold) those of one already kept.

    MinHash LSH (datasketch) only proposes candidates, tuned below the threshold so
    that few true duplicates are missed; each candidate is then checked by the exact
    Jaccard similarity of the two shingle sets, and the record is dropped only when
    one reaches the threshold. Signatures are computed per chunk on the engine's
    workers (:class:`NearSignatures`); the candidate check runs here, in input order.
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
        # Only its hash values are read by the index: one object carries each record's in turn.
        self._probe = datasketch.MinHash(num_perm=self.num_perm, seed=1)
        self._lsh = datasketch.MinHashLSH(
            threshold=max(0.05, self.threshold - self.candidate_margin), num_perm=self.num_perm
        )
        self._kept: list[Any] = []  # per kept record, its distinct shingle hashes (uint64)
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

    def setup(self, shape: str) -> Callable[[], ChunkFunction]:
        return NearSignatures(shape, self.fields, self.num_perm, self.shingle)

    def decide(self, shape: str, lines: list[bytes], results: NearChunk) -> list[bool]:
        return [self._keep(signature) for signature in results.signatures()]

    def _keep(self, signature: tuple[Any, Any] | None) -> bool:
        if signature is None:
            # Nothing of the named fields to compare: not evidence of a duplicate.
            return True
        hashed, self._probe.hashvalues = signature
        # In insertion order, so the counts in the evidence are the same on every run.
        for key in sorted(self._lsh.query(self._probe)):
            self.candidates += 1
            if self._jaccard(hashed, self._kept[key]) >= self.threshold:
                return False
            self.rejected += 1
        # Keys are positions in `_kept`, new by construction: no duplicate check needed.
        self._lsh.insert(len(self._kept), self._probe, check_duplication=False)
        self._kept.append(hashed)
        return True

    def _jaccard(self, a: Any, b: Any) -> float:
        """Jaccard similarity of two arrays of distinct values (1.0 when both are empty)."""
        if not len(a) and not len(b):
            return 1.0
        common = len(self._np.intersect1d(a, b, assume_unique=True))
        return float(common / (len(a) + len(b) - common))


class LocalMapper:
    """The ``local`` engine: every chunk in this process, one after another."""

    name = "local"
    workers = 1

    def map_chunks(
        self, setup: Callable[[], ChunkFunction], chunks: Iterable[list[Any]]
    ) -> Iterator[Any]:
        """``setup()(chunk)`` for each chunk, in order."""
        function = setup()
        for chunk in chunks:
            yield function(chunk)


@hookimpl(trylast=True)
def register_data_steps(register: Register) -> None:
    """The built-in steps: ``dedup-exact``, ``dedup-near``, ``length-filter``."""
    register(ExactDedup())
    register(NearDedup())
    register(LengthFilter())


@hookimpl(trylast=True)
def register_data_engines(register: Register) -> None:
    """The ``local`` engine: data steps run in this process unless another is configured."""
    register(DataEngine(name="local", connect=LocalMapper, description="in this process, in order"))


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
