"""The ``pii-redact`` data-preparation step."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_core.contracts import (
    EvidenceRecord,
    InputAsset,
    OutputAsset,
    StageContext,
    StageResult,
)
from lmops_core.errors import ValidationError
from lmops_core.kit import (
    PARTITIONED_FORMAT,
    BaseOperation,
    PartOutputs,
    dataset_parts,
    is_partitioned,
    map_row_batches,
    part_lines,
    part_records,
    rewrite_stored_partitions,
    write_listing,
)
from lmops_core.runtimes import ChunkMapper, PlannedMapper
from lmops_presidio.chunks import redact_chunks
from lmops_presidio.config import NER_ENTITIES
from lmops_presidio.params import PiiRedactParams, StepSettings, step_settings
from lmops_presidio.rows import (
    Record,
    RedactRows,
    RedactStored,
    Tally,
    parse_record,
    redacted_rows,
)

if TYPE_CHECKING:
    from lmops_core.datasets.stored import StoredDataset
from lmops_presidio.shapes import check_shape

OUTPUT_FILE = "dataset.jsonl"
#: The output folder when the input is partitioned: one output partition per input partition.
OUTPUT_FOLDER = "dataset"
#: The output when the workers stored its partitions: the listing of what they stored.
STORED_LISTING = "dataset.partitions.json"


class PiiRedactionStep(BaseOperation[PiiRedactParams]):
    """Detect personal data with presidio (e-mail, phone, cards, IBAN, IP, SSN, names, places,
    mainland-China IDs, mobiles and bank cards) and redact it.

    Find personal data in every text field of a dataset and redact it.

    Reads the ``"dataset"`` input (a canonical JSONL file of any shape, or a
    partitioned version, partition by partition), writes a redacted copy as the
    ``"dataset"`` output (for a partitioned input, partitions of the same names,
    each record redacted as in a file), and returns ``"pii"`` evidence: findings before, findings left after (by re-scanning the
    output), records touched, counts per entity type and the configuration.
    Evidence holds counts only, never a found value.
    """

    name = "pii-redact"
    input_roles = {"dataset": "dataset"}
    evidence_kinds = ("pii",)
    #: On a cluster engine with an object store, the workers read and write the partitions
    #: there themselves (:func:`_redact_in_store`).
    reads_stored_partitions = True

    def execute(self, context: StageContext, params: PiiRedactParams) -> StageResult:
        """Redact the dataset in ``context`` and measure what was found and what is left."""
        source = context.input("dataset")
        if source.asset_type != "dataset" or not _has_files(source):
            raise ValidationError(
                f'pii-redact: input "dataset" must be a dataset version, got {source.asset_type} '
                f"at {source.path}"
            )
        settings = step_settings(params, dataset_meta=source.metadata)
        check_shape(source.kind)
        context.workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        engine = context.data_engine(params.engine)
        info: dict[str, str] = {}
        if source.stored is not None and isinstance(engine, PlannedMapper):
            target, tally = _redact_in_store(context, settings, source.stored, engine)
            fmt = PARTITIONED_FORMAT
            # Where the partitions went, for the run's record (the evidence stays the same).
            info["partitions"] = "read and written by the workers in the artifact store"
        else:
            # Left in the store for an engine that cannot plan work: fetched here (verified).
            path = source.local_path(context.workdir / "input")
            partitioned = is_partitioned(path)
            target = context.workdir / (OUTPUT_FOLDER if partitioned else OUTPUT_FILE)
            tally = _redact_file(context, settings, path, source.kind, target, engine)
            fmt = PARTITIONED_FORMAT if partitioned else "jsonl"
        elapsed = time.perf_counter() - started
        return StageResult(
            outputs=[
                OutputAsset(
                    role="dataset",
                    asset_type="dataset",
                    path=target,
                    kind=source.kind,
                    derived_from=["dataset"],
                    format=fmt,
                    metadata={"pii_redacted": True},
                )
            ],
            info=info,
            evidence=[_evidence(settings, tally)],
            metrics={
                "records": float(tally.records),
                "findings_before": float(sum(tally.before.values())),
                "findings_after": float(sum(tally.after.values())),
                "records_per_second": tally.records / elapsed if elapsed > 0 else 0.0,
            },
            params={**settings.guard.describe(), "workers": settings.workers},
        )


def _has_files(source: InputAsset) -> bool:
    """The input is on this disk, or left in the artifact store as partitions."""
    return source.stored is not None or (source.path is not None and source.path.exists())


def _redact_in_store(
    context: StageContext, settings: StepSettings, stored: StoredDataset, engine: PlannedMapper
) -> tuple[Path, Tally]:
    """Partitions left in the artifact store: each worker fetches one (digest checked),
    redacts it, and writes and stores the output partition of the same name; this process
    adds up the counts and writes the listing of what was stored (never holding a row).
    ``(listing, tally)``."""
    shape = stored.manifest.shape
    context.progress.start("pii-redact: stored partitions", total=float(stored.manifest.records))
    tally = Tally()
    written = []
    setup = RedactStored(RedactRows(settings.guard, shape, settings.chunk_size))
    for done in rewrite_stored_partitions(engine, setup, stored.partitions()):
        written.append(done.partition)
        for counts in done.results:
            tally.merge(counts)
        context.progress.advance(float(done.rows))
    listing = context.workdir / STORED_LISTING
    write_listing(listing, shape=shape, partitions=written)
    context.progress.finish()
    return listing, tally


def _redact_file(
    context: StageContext,
    settings: StepSettings,
    source: Path,
    shape: str,
    target: Path,
    engine: ChunkMapper,
) -> Tally:
    parts = dataset_parts(source)
    total = sum(part_records(path) for _, path in parts)
    context.progress.start(f"pii-redact: {source.name}", total=float(total))
    tally = Tally()
    names = [name for name, _ in parts]
    partitioned = is_partitioned(source)
    with PartOutputs(target, names, partitioned=partitioned) as outputs:
        if partitioned and engine.name != "local":
            # The engine's workers read the partitions, redact and write the rows; this
            # process writes them out in order and adds up the counts.
            setup = RedactRows(settings.guard, shape, settings.chunk_size)
            files = [path for _, path in parts]
            for batch in map_row_batches(engine, setup, files, ship_rows=False):
                write = outputs.writer(batch.part)
                for line in batch.result.lines:
                    write(line)
                tally.merge(batch.result.tally)
                context.progress.advance(float(batch.count))
        else:
            _redact_here(context, settings, parts, shape, outputs, engine, tally)
    context.progress.finish()
    return tally


def _redact_here(
    context: StageContext,
    settings: StepSettings,
    parts: list[tuple[str, Path]],
    shape: str,
    outputs: PartOutputs,
    engine: ChunkMapper,
    tally: Tally,
) -> None:
    """This process parses the records and writes them; the engine (or a local pool)
    redacts their texts, chunk by chunk, in order."""
    # Records whose texts are in flight, with their part; the pool may read ahead a few
    # chunks. One pass over every part's chunks: each worker builds its guard once.
    waiting: deque[tuple[int, list[Record]]] = deque()

    def texts_per_chunk() -> Iterator[list[str]]:
        for index, (_, path) in enumerate(parts):
            for chunk in _record_chunks(path, shape, settings.chunk_size):
                waiting.append((index, chunk))
                yield [text for record in chunk for text in record.texts]

    for result in redact_chunks(
        settings.guard, texts_per_chunk(), workers=settings.workers, engine=engine
    ):
        index, chunk = waiting.popleft()
        write = outputs.writer(index)
        for line in redacted_rows(chunk, result, shape, tally):
            write(line)
        context.progress.advance(float(len(chunk)))


def _record_chunks(source: Path, shape: str, size: int) -> Iterator[list[Record]]:
    """Validated records of ``source``, ``size`` at a time."""
    chunk: list[Record] = []
    for number, raw in part_lines(source):
        chunk.append(parse_record(raw, shape, f"{source}:{number}"))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _evidence(settings: StepSettings, tally: Tally) -> EvidenceRecord:
    config = settings.guard
    entities = config.active_entities
    metrics: dict[str, Any] = {
        "findings_before": sum(tally.before.values()),
        "findings_after": sum(tally.after.values()),
        "records": tally.records,
        "records_touched": tally.records_touched,
        "fields": sum(tally.fields.values()),
        "fields_touched": sum(tally.fields_touched.values()),
    }
    for name in entities:
        metrics[f"before.{name}"] = tally.before[name]
        metrics[f"after.{name}"] = tally.after[name]
    uses_ner = config.ner_model is not None and any(name in NER_ENTITIES for name in entities)
    # Imported here: registering the step must not import presidio and spaCy.
    from lmops_presidio.engines import model_description

    details = {
        "config": config.describe(),
        "ner_model": model_description(config.ner_model) if uses_ner and config.ner_model else None,
        "engine": {
            "presidio_analyzer": metadata.version("presidio-analyzer"),
            "presidio_anonymizer": metadata.version("presidio-anonymizer"),
            "nlp": "spacy-ner-only" if uses_ner else "presidio-no-op",
        },
        "per_entity": {
            name: {"before": tally.before[name], "after": tally.after[name]} for name in entities
        },
        "per_field": {
            name: {"scanned": tally.fields[name], "touched": tally.fields_touched[name]}
            for name in sorted(tally.fields)
        },
        "same_span": dict(sorted(tally.same_span.items())),
        "phone_regions_from": settings.phone_regions_from,
        "workers": settings.workers,
    }
    return EvidenceRecord(kind="pii", subject="dataset", metrics=metrics, details=details)
