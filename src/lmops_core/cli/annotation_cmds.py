"""``lmops annotation export|import`` and ``lmops review sample|show|list|accept|reject|finish``:
people labelling records in Label Studio, and a reviewer checking a sample of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from lmops_core.cli.common import (
    JsonOpt,
    console,
    open_workspace,
    print_json,
    read_workspace,
    table,
)
from lmops_core.cli.json_shapes import version_json

if TYPE_CHECKING:
    from lmops_core.annotation.models import SampleReviewDetail
    from lmops_core.workspace import Workspace

annotation_app = typer.Typer(
    help="Annotation in Label Studio: export a dataset version (or a stratified, seeded sample) "
    "as tasks, import the completed tasks as a new version with `annotation` evidence "
    "(annotator ids, agreement) and lineage to the version annotated.",
    no_args_is_help=True,
)
review_app = typer.Typer(
    help="Sample review: draw a seeded sample of a dataset version, accept or reject its "
    "records as the authenticated reviewer (data stewards, validators, admins), then finish: "
    "the next version leaves the rejected records out and its evidence says how many and why.",
    no_args_is_help=True,
)

Kind = Literal["labels", "preference", "rating"]
KindOpt = Annotated[
    Kind,
    typer.Option("--type", help="labels (classification), preference (pairs) or rating."),
]
FieldOpt = Annotated[
    str | None,
    typer.Option(help="The record field holding the answer (default: label, rating)."),
]
CandidatesOpt = Annotated[
    str,
    typer.Option(help="Preference: the two record fields compared, as LEFT,RIGHT."),
]
RefArg = Annotated[str, typer.Argument(help="The dataset version: NAME[@VERSION|@ALIAS].")]
ReviewArg = Annotated[str, typer.Argument(help="The sample review's id.")]
IndicesArg = Annotated[list[int], typer.Argument(help="Record indices (lines, from 0).")]


def _pair(text: str) -> tuple[str, str]:
    from lmops_core.errors import ValidationError

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValidationError(
            f"--candidates takes two fields as LEFT,RIGHT, got {text!r}", field="candidates"
        )
    return parts[0], parts[1]


@annotation_app.command("export")
def annotation_export(
    ref: RefArg,
    out: Annotated[Path, typer.Argument(help="The Label Studio JSON file to write.")],
    kind: KindOpt,
    sample: Annotated[int | None, typer.Option(min=1, help="Export a sample of N records.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="The sample's seed.")] = 0,
    stratify: Annotated[str | None, typer.Option(help="Stratify the sample by this field.")] = None,
    field: FieldOpt = None,
    candidates: CandidatesOpt = "chosen,rejected",
    as_json: JsonOpt = False,
) -> None:
    """Write a dataset version's records as Label Studio tasks (import them in Label Studio).

    Each task's data holds the record's fields and lmops_index / lmops_record_digest, which
    tie the completed task back to its record; a labels task carries the record's current
    label as a prediction."""
    with open_workspace() as ws:
        done = ws.annotation.export_tasks(
            ref,
            out,
            kind=kind,
            sample=sample,
            seed=seed,
            stratify=stratify,
            field=field,
            candidates=_pair(candidates),
        )
    if as_json:
        print_json(
            {"path": str(done.path), "tasks": done.tasks, "ref": done.ref, "indices": done.indices}
        )
    else:
        console.print(
            f"wrote {done.tasks} {kind} tasks of {done.ref} to {done.path}", highlight=False
        )


@annotation_app.command("import")
def annotation_import(
    ref: RefArg,
    export: Annotated[Path, typer.Argument(help="Label Studio's JSON export.", exists=True)],
    kind: KindOpt,
    name: Annotated[str | None, typer.Option(help="Dataset to add the version to.")] = None,
    field: FieldOpt = None,
    candidates: CandidatesOpt = "chosen,rejected",
    as_json: JsonOpt = False,
) -> None:
    """Record Label Studio's export of REF's tasks as a new dataset version, derived from REF,
    with `annotation` evidence: annotator ids, counts, agreement (Cohen's or Fleiss' kappa).
    A malformed export is refused, naming the task and the field."""
    with open_workspace() as ws:
        new = ws.annotation.import_annotations(
            ref, export, kind=kind, name=name, field=field, candidates=_pair(candidates)
        )
        _print_version(ws, new, as_json)


def _print_version(ws: Workspace, ref: str, as_json: bool) -> None:
    version = ws.get(ref)
    if as_json:
        print_json(version_json(version))
        return
    metrics = ws.evidence(ref, kind="annotation")[-1].metrics
    shown = ", ".join(f"{k} {v}" for k, v in metrics.items())
    console.print(f"registered [bold]{version.ref}[/] ({shown})", highlight=False)


def _print_review(review: SampleReviewDetail, as_json: bool) -> None:
    if as_json:
        print_json(review)
        return
    console.print(
        f"sample review {review.id} of {review.ref}: {review.status}, {review.accepted} "
        f"accepted, {review.rejected} rejected, {review.undecided} undecided",
        highlight=False,
    )


@review_app.command("sample")
def review_sample(
    ref: RefArg,
    size: Annotated[int, typer.Option(min=1, help="How many records to sample.")],
    seed: Annotated[int, typer.Option(min=0, help="The sample's seed.")] = 0,
    stratify: Annotated[str | None, typer.Option(help="Stratify by this field.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw a seeded sample of a dataset version's records for review (a decision: needs a
    credential and the role data_steward, validator or admin)."""
    with open_workspace() as ws:
        review = ws.annotation.sample_review(ref, size=size, seed=seed, stratify=stratify)
    if not as_json:
        console.print(f"records to review: {[i.record_index for i in review.items]}")
    _print_review(review, as_json)


@review_app.command("show")
def review_show(review_id: ReviewArg, as_json: JsonOpt = False) -> None:
    """Show a sample review: each sampled record's verdict, reason and reviewer."""
    with read_workspace() as ws:
        review = ws.annotation.review(review_id)
    if as_json:
        print_json(review)
        return
    _print_review(review, False)
    table(
        "Sampled records",
        ["record", "decision", "reason", "by"],
        [
            [i.record_index, i.decision or "", i.reason or "", i.decided_by or ""]
            for i in review.items
        ],
    )


@review_app.command("list")
def review_list(
    status: Annotated[Literal["open", "finished", "all"], typer.Option()] = "open",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List sample reviews, newest first."""
    with read_workspace() as ws:
        rows = ws.annotation.reviews(status=None if status == "all" else status, limit=limit)
    if as_json:
        print_json(rows)
        return
    table(
        "Sample reviews",
        ["id", "version", "status", "sampled", "accepted", "rejected", "result"],
        [[r.id, r.ref, r.status, r.size, r.accepted, r.rejected, r.result_ref or ""] for r in rows],
    )


@review_app.command("accept")
def review_accept(
    review_id: ReviewArg,
    indices: IndicesArg,
    comment: Annotated[str | None, typer.Option(help="An optional note.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Accept sampled records, as the authenticated reviewer."""
    with open_workspace() as ws:
        _print_review(ws.annotation.accept(review_id, indices, comment=comment), as_json)


@review_app.command("reject")
def review_reject(
    review_id: ReviewArg,
    indices: IndicesArg,
    reason: Annotated[str, typer.Option(help="Why (recorded, audited, in the evidence).")],
    as_json: JsonOpt = False,
) -> None:
    """Reject sampled records, saying why, as the authenticated reviewer."""
    with open_workspace() as ws:
        _print_review(ws.annotation.reject(review_id, indices, reason=reason), as_json)


@review_app.command("finish")
def review_finish(
    review_id: ReviewArg,
    name: Annotated[str | None, typer.Option(help="Dataset to add the version to.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the reviewed version without its rejected records as a new version, with
    `annotation` evidence: review_acceptance, review_rejected and the reasons."""
    with open_workspace() as ws:
        _print_version(ws, ws.annotation.finish_review(review_id, name=name), as_json)
