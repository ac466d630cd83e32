"""``lmops annotation export|import`` and ``lmops review ...`` from the shell."""

from __future__ import annotations

import json
from pathlib import Path

from lmops_core.cli.exit_codes import ExitCode
from lmops_core.workspace import Workspace
from tests.annotation.conftest import TICKETS, choice, completed
from tests.cli.conftest import Shell
from tests.conftest import make_settings, token_for, write_jsonl


def test_annotate_then_review_from_the_shell(shell: Shell, tmp_path: Path) -> None:
    with Workspace.open(make_settings(shell.home)) as ws:
        for user, role in (("eng", "submitter"), ("stew", "data_steward")):
            shell.tokens[user] = token_for(ws, user, role)
    data = write_jsonl(tmp_path / "t.jsonl", TICKETS)
    shell.ok("datasets", "register", "tickets", str(data), "--shape", "instruction", who="eng")
    tasks = tmp_path / "tasks.json"
    out = shell.json(
        "annotation",
        "export",
        "tickets@1",
        str(tasks),
        "--type",
        "labels",
        "--sample",
        "6",
        "--seed",
        "3",
        "--stratify",
        "topic",
        who="eng",
    )
    assert out["tasks"] == 6 and len(json.loads(tasks.read_text())) == 6
    export = completed(
        tasks,
        tmp_path / "export.json",
        lambda n, d: [(4, choice(d["topic"])), (5, choice(d["topic"]))],
    )
    version = shell.json(
        "annotation", "import", "tickets@1", str(export), "--type", "labels", who="eng"
    )
    assert version["ref"] == "dataset:tickets@2"
    broken = json.loads(export.read_text())
    del broken[2]["annotations"][1]["completed_by"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    bad = shell(
        "annotation",
        "import",
        "tickets@1",
        str(tmp_path / "broken.json"),
        "--type",
        "labels",
        who="eng",
    )
    assert bad.exit_code == ExitCode.INVALID_INPUT
    assert "broken.json: task 2: annotations[1].completed_by: missing" in bad.output

    denied = shell("review", "sample", "tickets@2", "--size", "3", who="eng")
    assert denied.exit_code == ExitCode.PERMISSION_DENIED, denied.output
    review = shell.json("review", "sample", "tickets@2", "--size", "3", "--seed", "1", who="stew")
    first, *rest = [i["record_index"] for i in review["items"]]
    shell.ok("review", "reject", review["id"], str(first), "--reason", "wrong label", who="stew")
    accepted = shell.json("review", "accept", review["id"], *map(str, rest), who="stew")
    assert (accepted["accepted"], accepted["rejected"], accepted["undecided"]) == (2, 1, 0)
    assert "wrong label" in shell.ok("review", "show", review["id"]).stdout
    final = shell.json("review", "finish", review["id"], who="stew")
    assert final["ref"] == "dataset:tickets@3"
    evidence = shell.json("evidence", "list", "dataset:tickets@3")
    (annotation,) = [e for e in evidence if e["kind"] == "annotation"]
    assert annotation["metrics"]["review_rejected"] == 1
    assert annotation["details"]["reasons"] == {"wrong label": 1}
    (listed,) = shell.json("review", "list", "--status", "finished")
    assert listed["result_ref"] == "dataset:tickets@3"
