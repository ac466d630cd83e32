"""Export to Label Studio, import its export back: a new version, lineage, evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmops_core.errors import ValidationError
from lmops_core.workspace import Workspace
from tests.annotation.conftest import TICKETS, choice, completed, tickets
from tests.conftest import write_jsonl


def test_labels_round_trip_with_lineage_and_evidence(ws: Workspace, tmp_path: Path) -> None:
    ref = tickets(ws, tmp_path)
    done = ws.annotation.export_tasks(
        ref, tmp_path / "tasks.json", kind="labels", sample=6, seed=2, stratify="topic"
    )
    assert done.tasks == 6 and len(json.loads((tmp_path / "tasks.json").read_text())) == 6
    assert sum(1 for i in done.indices if TICKETS[i]["topic"] == "cards") == 2

    def answer(n: int, data: dict[str, Any]) -> list[tuple[Any, Any]]:
        # ann 7 agrees with the first guess; ann 9 disagrees on the first task (a tie).
        truth = data["topic"]
        other = "fraud" if n == 0 else truth
        return [({"id": 7, "email": "ann@bank.example"}, choice(truth)), (9, choice(other))]

    export = completed(tmp_path / "tasks.json", tmp_path / "export.json", answer)
    new = ws.annotation.import_annotations(ref, export, kind="labels", field="label")
    version = ws.get(new)
    assert (version.ref, version.record_count) == ("dataset:tickets@2", 5)  # the tie is out
    assert [e.parent for e in ws.lineage(new, depth=1)] == [ref]
    ev = ws.evidence(new, kind="annotation")[-1]
    assert ev.metrics["annotators"] == 2 and ev.metrics["annotations"] == 12
    assert ev.metrics["records_unresolved"] == 1 and ev.metrics["records_unannotated"] == 6
    assert ev.metrics["agreement_method"] == "cohen" and ev.metrics["agreement_items"] == 6
    assert 0 < ev.metrics["agreement"] < 1
    assert ev.details["annotators"] == {"ls:7": 6, "ls:9": 6}
    kept = ws.artifacts.read_bytes(ev.artifacts["annotations"]).decode()
    assert '"ls:7"' in kept and "ann@bank" not in kept  # ids only, never e-mail addresses
    assert "ann@bank" not in json.dumps([e.after for e in ws.audit_events(limit=1000)])
    assert {e.action for e in ws.audit_events(limit=1000)} >= {
        "annotation.export",
        "annotation.import",
    }


def test_preference_pairs_become_a_preference_dataset(ws: Workspace, tmp_path: Path) -> None:
    rows = [
        {"prompt": f"q{i}", "response": f"short {i}", "long": f"long answer {i}"} for i in range(4)
    ]
    ref = ws.register_dataset(
        "answers", write_jsonl(tmp_path / "a.jsonl", rows), shape="instruction"
    ).ref
    ws.annotation.export_tasks(
        ref, tmp_path / "t.json", kind="preference", candidates=("response", "long")
    )
    pick = [{"type": "pairwise", "value": {"selected": "right"}}]
    export = completed(
        tmp_path / "t.json", tmp_path / "e.json", lambda n, d: [(1, pick), (2, pick), (3, pick)]
    )
    new = ws.annotation.import_annotations(
        ref, export, kind="preference", name="answers-dpo", candidates=("response", "long")
    )
    version = ws.get(new)
    assert version.ref == "dataset:answers-dpo@1" and version.shape == "preference"
    out = ws.artifacts.read_bytes(version.digest).decode().splitlines()
    assert json.loads(out[0]) == {"prompt": "q0", "chosen": "long answer 0", "rejected": "short 0"}
    ev = ws.evidence(new, kind="annotation")[-1]
    # Three annotators who all agree on one answer: Fleiss' kappa is undefined, so absent.
    assert ev.metrics["agreement_method"] == "fleiss" and "agreement" not in ev.metrics


def test_ratings_are_averaged(ws: Workspace, tmp_path: Path) -> None:
    ref = tickets(ws, tmp_path)
    ws.annotation.export_tasks(ref, tmp_path / "t.json", kind="rating", sample=4, seed=0)
    stars = lambda r: [{"type": "rating", "value": {"rating": r}}]  # noqa: E731
    export = completed(
        tmp_path / "t.json",
        tmp_path / "e.json",
        lambda n, d: [(1, stars(4)), (2, stars(5 if n % 2 else 4))],
    )
    new = ws.annotation.import_annotations(ref, export, kind="rating")
    lines = ws.artifacts.read_bytes(ws.get(new).digest).decode().splitlines()
    assert sorted(json.loads(line)["rating"] for line in lines) == [4.0, 4.0, 4.5, 4.5]
    ev = ws.evidence(new, kind="annotation")[-1]
    assert ev.metrics["type"] == "rating" and ev.metrics["records_annotated"] == 4


def test_a_malformed_or_foreign_export_registers_nothing(ws: Workspace, tmp_path: Path) -> None:
    ref = tickets(ws, tmp_path)
    ws.annotation.export_tasks(ref, tmp_path / "t.json", kind="labels")
    bad = completed(
        tmp_path / "t.json",
        tmp_path / "bad.json",
        lambda n, d: [(1, choice("x") if n != 5 else [{"type": "choices"}])],
    )
    with pytest.raises(
        ValidationError,
        match=r"bad.json: task 5: annotations\[0\]"
        r".result\[0\].value: must be an object",
    ):
        ws.annotation.import_annotations(ref, bad, kind="labels")
    tasks = json.loads(
        completed(
            tmp_path / "t.json", tmp_path / "x.json", lambda n, d: [(1, choice("x"))]
        ).read_text()
    )
    tasks[3]["data"]["lmops_record_digest"] = "sha256:" + "0" * 64
    (tmp_path / "x.json").write_text(json.dumps(tasks))
    with pytest.raises(
        ValidationError,
        match=r"x.json: task 3: data.lmops_record_digest: "
        "record 3 of dataset:tickets@1 is not the record",
    ):
        ws.annotation.import_annotations(ref, tmp_path / "x.json", kind="labels")
    with pytest.raises(ValidationError, match="unknown annotation type 'boxes'"):
        ws.annotation.import_annotations(ref, tmp_path / "x.json", kind="boxes")
    assert [v.ref for v in ws.list_versions("dataset", "tickets")] == [ref]


def test_a_partitioned_version_is_refused_by_name(ws: Workspace, tmp_path: Path) -> None:
    from lmops_core.datasets.partitions import write_partition

    (tmp_path / "parts").mkdir()
    write_partition(TICKETS[:6], tmp_path / "parts" / "part-0.parquet")
    ref = ws.register_dataset("parts", tmp_path / "parts", shape="instruction").ref
    with pytest.raises(
        ValidationError,
        match="dataset:parts@1 is partitioned; annotation reads single-file dataset versions",
    ):
        ws.annotation.export_tasks(ref, tmp_path / "t.json", kind="labels")


def test_an_unknown_export_option_is_refused_before_anything_is_written(
    ws: Workspace, tmp_path: Path
) -> None:
    ref = tickets(ws, tmp_path)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sampel'"):
        ws.annotation.export_tasks(ref, tmp_path / "t.json", kind="labels", sampel=3)  # type: ignore[call-arg]
    assert not (tmp_path / "t.json").exists()
    assert ws.audit_events(action="annotation.export") == []
