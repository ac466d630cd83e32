"""Export a dataset version as Label Studio tasks; import the completed tasks back as a
new version, derived from it, with ``annotation`` evidence (who, how many, agreement)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

from lmops_core.annotation.agreement import measure
from lmops_core.annotation.labelstudio import (
    AnnotationType,
    TaskVotes,
    check_type,
    normalised,
    parse_export,
    record_digest,
    task_for,
)
from lmops_core.annotation.merge import annotated_record, decide
from lmops_core.annotation.sampling import sample_indices
from lmops_core.annotation.store import (
    AnnotatingStore,
    Derived,
    SourceRecords,
    read_source,
    record_derived,
)
from lmops_core.errors import ValidationError

#: Where each annotation type puts its answer, unless told otherwise.
DEFAULT_FIELDS = {"labels": "label", "rating": "rating", "preference": ""}
DEFAULT_CANDIDATES = ("chosen", "rejected")


@dataclass(frozen=True)
class ExportedTasks:
    """What an export wrote: the file, how many tasks, from which version."""

    path: Path
    tasks: int
    ref: str
    indices: list[int]


class ExportOptions(TypedDict, total=False):
    """How :func:`export_tasks` lays out its tasks; every key may be left out.

    ``sample``: write a seeded sample of this many records (default: every record), drawn
    with ``seed`` (default 0) and stratified by the value of the field ``stratify`` (default:
    not stratified). ``field``: where the answer goes (default: the type's, from
    :data:`DEFAULT_FIELDS`); ``candidates``: a preference pair's two text fields (default
    :data:`DEFAULT_CANDIDATES`).
    """

    sample: int | None
    seed: int
    stratify: str | None
    field: str | None
    candidates: tuple[str, str]


def export_tasks(
    ws: AnnotatingStore, ref: str, dest: Path, *, kind: str, **options: Unpack[ExportOptions]
) -> ExportedTasks:
    """Write the records of ``ref`` (or a seeded sample, :class:`ExportOptions`) to ``dest``
    as Label Studio tasks. Audited (``annotation.export``)."""
    unknown = sorted(set(options) - ExportOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"export_tasks() got an unexpected keyword argument {unknown[0]!r}")
    sample, seed, stratify = options.get("sample"), options.get("seed", 0), options.get("stratify")
    candidates = options.get("candidates", DEFAULT_CANDIDATES)
    typ = check_type(kind)
    source = read_source(ws, ref)
    indices = (
        list(range(len(source.records)))
        if sample is None
        else sample_indices(source.records, size=sample, seed=seed, stratify=stratify)
    )
    label_field = options.get("field") or DEFAULT_FIELDS[typ] or "label"
    tasks = [
        task_for(
            source.records[i],
            index=i,
            line=source.lines[i],
            ref=source.ref,
            kind=typ,
            label_field=label_field,
            candidates=candidates,
        )
        for i in indices
    ]
    dest.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    with ws.db.write() as s:
        ws.audit_writer.record(
            s,
            "annotation.export",
            source.ref,
            after={
                "type": typ,
                "tasks": len(tasks),
                "sample": sample,
                "seed": seed,
                "stratify": stratify,
            },
        )
    return ExportedTasks(dest, len(tasks), source.ref, indices)


def _check_tasks(tasks: list[TaskVotes], source: SourceRecords, file: str) -> None:
    for n, task in enumerate(tasks):
        if task.index >= len(source.records):
            raise ValidationError(
                f"{file}: task {n}: data.lmops_index: {source.ref} has no record {task.index}",
                file=file,
                field="data.lmops_index",
            )
        if task.record_digest != record_digest(source.lines[task.index]):
            raise ValidationError(
                f"{file}: task {n}: data.lmops_record_digest: record {task.index} of "
                f"{source.ref} is not the record this task was made from",
                file=file,
                field="data.lmops_record_digest",
            )


def import_annotations(
    ws: AnnotatingStore,
    ref: str,
    export: Path,
    *,
    kind: str,
    name: str | None = None,
    field: str | None = None,
    candidates: tuple[str, str] = DEFAULT_CANDIDATES,
) -> str:
    """Record a Label Studio export of tasks made from ``ref`` as a new dataset version.

    Each annotated record gets its answer (majority label, majority side of the pair,
    mean rating); a tie leaves the record out, counted. The new version is derived
    from ``ref``; its ``annotation`` evidence holds the annotators' ids and counts and
    their agreement, and, as an artifact, the answers by annotator id (the export itself
    is not kept: its ``completed_by`` objects may hold names and e-mail addresses).
    """
    typ = check_type(kind)
    source = read_source(ws, ref)
    raw = export.read_bytes()
    tasks = parse_export(raw, kind=typ, file=export.name)
    _check_tasks(tasks, source, export.name)
    answer_field = field or DEFAULT_FIELDS[typ]
    records, unresolved = _answered(tasks, source, typ, answer_field, candidates)
    if not records:
        raise ValidationError(f"{export.name}: no task has an answer to record", file=export.name)
    metrics, details = _evidence(tasks, kind=typ, total=len(source.records), unresolved=unresolved)
    details |= {
        "field": answer_field or None,
        "export_file": export.name,
        "export_sha256": "sha256:" + hashlib.sha256(raw).hexdigest(),
    }
    # The normalised answers and the version that cites them are stored under one lease:
    # `lmops gc` cannot take the blob before the evidence referencing it is committed.
    with ws.artifacts.lease(f"annotation-{source.name}"):
        kept = ws.artifacts.put_json(normalised(tasks, kind=typ, ref=source.ref))
        new = Derived(
            name=name or source.name,
            shape="preference" if typ == "preference" else source.shape,
            records=records,
            metrics=metrics,
            details=details,
            artifacts={"annotations": kept.digest},
            action="annotation.import",
        )
        return record_derived(ws, source, new)


def _evidence(
    tasks: list[TaskVotes], *, kind: str, total: int, unresolved: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The import's ``annotation`` metrics and details: who answered how often, agreement."""
    voted = [t.votes for t in tasks if t.votes]
    per_annotator = Counter(a for v in voted for a in v)
    agreement = measure(voted)
    metrics: dict[str, Any] = {
        "type": kind,
        "annotators": len(per_annotator),
        "annotations": sum(per_annotator.values()),
        "records_annotated": len(voted),
        "records_unresolved": unresolved,
        "records_unannotated": total - len(voted),
        "agreement_method": agreement.method,
        "agreement_items": agreement.items,
    }
    if agreement.kappa is not None:
        metrics["agreement"] = agreement.kappa
    details = {
        "annotators": dict(sorted(per_annotator.items())),
        "agreement_note": agreement.note,
    }
    return metrics, details


def _answered(
    tasks: list[TaskVotes],
    source: SourceRecords,
    kind: AnnotationType,
    field: str,
    candidates: tuple[str, str],
) -> tuple[list[dict[str, Any]], int]:
    records: list[dict[str, Any]] = []
    unresolved = 0
    for task in sorted(tasks, key=lambda t: t.index):
        answer = decide(kind, task.votes)
        if answer is None:
            unresolved += 1 if task.votes else 0
            continue
        record = source.records[task.index]
        if kind == "preference":
            for name in ("prompt", *candidates):
                if not isinstance(record.get(name), str):
                    raise ValidationError(
                        f"{source.ref} line {task.index + 1}: {name}: a preference pair "
                        "needs a text prompt and both candidates",
                        field=name,
                    )
        records.append(
            annotated_record(record, answer, kind=kind, field=field, candidates=candidates)
        )
    return records, unresolved
