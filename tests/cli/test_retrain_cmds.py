"""``lmops retrain list|show|close`` read and close the requests a monitoring breach opens."""

from __future__ import annotations

from pathlib import Path

from lmops_core.cli.exit_codes import ExitCode
from lmops_core.governance.monitoring import check_monitoring
from lmops_core.workspace import Workspace
from tests.cli.conftest import Shell
from tests.conftest import (
    VALIDATOR,
    drift_watch_rule,
    make_model_folder,
    make_settings,
    model_rule,
    policy_yaml,
    token_for,
)

POLICY = policy_yaml(
    "cli-retrain",
    model_rule("prod", "production", evidence=[{"kind": "eval"}], approvals=[VALIDATOR]),
    drift_watch_rule(["retrain"]),
)


def _breached(shell: Shell, tmp_path: Path) -> str:
    """``model:chat@1`` in production, then a drift breach: the id of the request it opens."""
    policies = Path(shell.env["LMOPS_POLICIES_DIR"])
    (policies / "p.yaml").write_text(POLICY)
    with Workspace.open(make_settings(shell.home, policies_dir=policies)) as ws:
        for user, role in (("eng", "submitter"), ("val", "validator"), ("viewer", "viewer")):
            shell.tokens[user] = token_for(ws, user, role)
        eng, val = ws.with_token(shell.tokens["eng"]), ws.with_token(shell.tokens["val"])
        v = eng.register_model("chat", make_model_folder(tmp_path / "m"))
        val.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
        request = eng.governance.request_promotion(v.ref, to="production")
        val.governance.decide(request.id, approve=True, role="validator", comment="ok")
        ws.as_actor("monitor").attach_evidence(
            v.ref,
            kind="drift",
            digest=v.digest,
            stage="monitoring",
            metrics={"dataset_drift": True},
        )
        outcome = check_monitoring(ws.as_actor("monitor"), v.ref)
    assert outcome.training_request_id is not None
    return outcome.training_request_id


def test_list_show_and_close(shell: Shell, tmp_path: Path) -> None:
    request_id = _breached(shell, tmp_path)
    (row,) = shell.json("retrain", "list")
    assert (row["id"], row["ref"], row["status"]) == (request_id, "model:chat@1", "open")
    assert row["evidence"]["evidence"]["kind"] == "drift" and row["latest_attempt"] is None
    assert "watch/no-drift" in row["reason"]
    shown = shell.json("retrain", "show", request_id)
    assert shown["attempts"] == [] and shown["pipeline"] is None
    # A viewer may read but not close.
    refused = shell("retrain", "close", request_id, "--comment", "done", who="viewer")
    assert refused.exit_code == ExitCode.PERMISSION_DENIED, refused.output
    assert "close retraining request" in refused.output
    shell.ok("retrain", "close", request_id, "--comment", "handled by hand", who="val")
    (closed,) = shell.json("retrain", "list", "--status", "all")
    assert (closed["status"], closed["closed_by"], closed["close_comment"]) == (
        "closed",
        "val",
        "handled by hand",
    )
