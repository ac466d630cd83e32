"""The ``pii-redact`` data-preparation step."""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lmops_core.contracts import EvidenceRecord, OutputAsset, StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_core.kit import (
    PARTITIONED_FORMAT,
    BaseOperation,
    PartOutputs,
    canonical_json,
    dataset_parts,
    is_partitioned,
    part_lines,
    part_records,
)
from lmops_core.runtimes import ChunkMapper
from lmops_presidio.chunks import ChunkResult, redact_chunks
from lmops_presidio.config import NER_ENTITIES
from lmops_presidio.params import PiiRedactParams, StepSettings, step_settings
from lmops_presidio.shapes import check_shape, texts_of, with_texts

OUTPUT_FILE = "dataset.jsonl"
#: The output folder when the input is partitioned: one output partition per input partition.
OUTPUT_FOLDER = "dataset"


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

    def execute(self, context: StageContext, params: PiiRedactParams) -> StageResult:
        """Redact the dataset in ``context`` and measure what was found and what is left."""
        source = context.input("dataset")
        if source.asset_type != "dataset" or source.path is None or not source.path.exists():
            raise ValidationError(
                f'pii-redact: input "dataset" must be a dataset version, got {source.asset_type} '
                f"at {source.path}"
            )
        settings = step_settings(params, dataset_meta=source.metadata)
        check_shape(source.kind)
        context.workdir.mkdir(parents=True, exist_ok=True)
        partitioned = is_partitioned(source.path)
        target = context.workdir / (OUTPUT_FOLDER if partitioned else OUTPUT_FILE)
        started = time.perf_counter()
        engine = context.data_engine(params.engine)
        tally = _redact_file(context, settings, source.path, source.kind, target, engine)
        elapsed = time.perf_counter() - started
        return StageResult(
            outputs=[
                OutputAsset(
                    role="dataset",
                    asset_type="dataset",
                    path=target,
                    kind=source.kind,
                    derived_from=["dataset"],
                    format=PARTITIONED_FORMAT if partitioned else "jsonl",
                    metadata={"pii_redacted": True},
                )
            ],
            evidence=[_evidence(settings, tally)],
            metrics={
                "records": float(tally.records),
                "findings_before": float(sum(tally.before.values())),
                "findings_after": float(sum(tally.after.values())),
                "records_per_second": tally.records / elapsed if elapsed > 0 else 0.0,
            },
            params={**settings.guard.describe(), "workers": settings.workers},
        )


class _Tally:
    """Counts gathered while redacting (numbers only: no text)."""

    def __init__(self) -> None:
        self.records = 0
        self.records_touched = 0
        self.fields: Counter[str] = Counter()
        self.fields_touched: Counter[str] = Counter()
        self.before: Counter[str] = Counter()
        self.after: Counter[str] = Counter()
        self.same_span: Counter[str] = Counter()


def _redact_file(
    context: StageContext,
    settings: StepSettings,
    source: Path,
    shape: str,
    target: Path,
    engine: ChunkMapper,
) -> _Tally:
    parts = dataset_parts(source)
    total = sum(part_records(path) for _, path in parts)
    context.progress.start(f"pii-redact: {source.name}", total=float(total))
    tally = _Tally()
    # Records whose texts are in flight, with their part; the pool may read ahead a few
    # chunks. One pass over every part's chunks: each worker builds its guard once.
    waiting: deque[tuple[int, list[_Record]]] = deque()

    def texts_per_chunk() -> Iterator[list[str]]:
        for index, (_, path) in enumerate(parts):
            for chunk in _record_chunks(path, shape, settings.chunk_size):
                waiting.append((index, chunk))
                yield [text for record in chunk for text in record.texts]

    names = [name for name, _ in parts]
    with PartOutputs(target, names, partitioned=is_partitioned(source)) as outputs:
        for result in redact_chunks(
            settings.guard, texts_per_chunk(), workers=settings.workers, engine=engine
        ):
            index, chunk = waiting.popleft()
            _write_chunk(outputs.writer(index), chunk, result, shape, tally)
            context.progress.advance(float(len(chunk)))
    context.progress.finish()
    return tally


@dataclass(frozen=True)
class _Record:
    """A parsed record with its text fields' names and texts, in shape order."""

    data: dict[str, Any]
    fields: list[str]
    texts: list[str]


def _write_chunk(
    write: Callable[[bytes], object],
    chunk: list[_Record],
    result: ChunkResult,
    shape: str,
    tally: _Tally,
) -> None:
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
        write(canonical_json(data))
    tally.before.update(result.before)
    tally.after.update(result.after)
    tally.same_span.update(result.same_span)


def _record_chunks(source: Path, shape: str, size: int) -> Iterator[list[_Record]]:
    """Validated records of ``source``, ``size`` at a time."""
    chunk: list[_Record] = []
    for number, raw in part_lines(source):
        where = f"{source}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{where}: not valid UTF-8 ({exc.reason})") from None
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{where}: not valid JSON ({exc.msg})") from None
        pairs = texts_of(record, shape, where)
        chunk.append(_Record(record, [name for name, _ in pairs], [text for _, text in pairs]))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _evidence(settings: StepSettings, tally: _Tally) -> EvidenceRecord:
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
