"""``lmops monitor run|watch`` start the policy's retraining pipeline on a breach.

The real commands, the real drift monitor (lmops-evidently) on a shifted window of
traffic, the real PII redaction (lmops-presidio) and the retraining pipeline of
``tests/pipelines/test_retrain.py`` (its tiny trainer and evaluator); the loop ends in a
pending promotion request, never a promotion, with the attempt recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

from lmops_hf.base_model import DATA_DIR

from lmops_core.cli.exit_codes import ExitCode
from lmops_core.workspace import Workspace
from tests.cli.conftest import Shell
from tests.conftest import make_model_folder, make_settings, token_for
from tests.pipelines.test_retrain import PIPELINE, PLUGIN, POLICY

PLUGINS = f"lmops_presidio.plugin,lmops_evidently.plugin,{PLUGIN}"
SHIFTED = Path(__file__).parents[2] / "src/lmops_core/data/demo/drift_window.jsonl"


def _in_production(shell: Shell, tmp_path: Path) -> tuple[str, str]:
    """``model:chat@1`` in production and the reference dataset it is monitored against."""
    policies = Path(shell.env["LMOPS_POLICIES_DIR"])
    (policies / "p.yaml").write_text(POLICY)
    (policies / "pipelines").mkdir()
    (policies / "pipelines" / "retrain.yaml").write_text(PIPELINE)
    shell.env["LMOPS_PLUGINS"] = PLUGINS
    settings = make_settings(shell.home, policies_dir=policies, plugins=PLUGINS)
    with Workspace.open(settings) as ws:
        for user, role in (("watcher", "submitter"), ("val", "validator")):
            shell.tokens[user] = token_for(ws, user, role)
        shell.tokens["steward"] = token_for(ws, "steward", "data_steward")
        eng, val = ws.with_token(shell.tokens["watcher"]), ws.with_token(shell.tokens["val"])
        v = eng.register_model("chat", make_model_folder(tmp_path / "m"))
        val.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.7})
        request = eng.governance.request_promotion(v.ref, to="production")
        val.governance.decide(request.id, approve=True, role="validator", comment="ok")
        reference = eng.register_dataset(
            "reference", DATA_DIR / "instructions.jsonl", shape="instruction"
        )
    return v.ref, reference.ref


def test_monitor_run_and_watch_start_the_retraining_and_end_in_a_pending_request(
    shell: Shell, tmp_path: Path
) -> None:
    model, reference = _in_production(shell, tmp_path)
    common = ("--model", model, "--reference", reference)

    # `monitor run` on a shifted window: a breach, and the policy's pipeline starts; it
    # stops at the data's approval gate (the loop never approves).
    ran = shell("monitor", "run", *common, "--log", str(SHIFTED), "--json", who="watcher")
    assert ran.exit_code == ExitCode.MONITOR_BREACH, ran.output
    first = json.loads(ran.stdout)
    assert first["breached"] and first["training_request"]
    assert first["retraining"]["state"] == "waiting", first
    request_id = first["training_request"]
    (attempt,) = shell.json("retrain", "show", request_id)["attempts"]
    assert (attempt["id"], attempt["state"]) == (first["retraining"]["attempt"], "waiting")
    data_request = attempt["waiting_for"]

    # `monitor watch` meets a second shifted window during the retraining: the same
    # request, and no second retraining (the attempt in flight holds the model).
    log = tmp_path / "live.jsonl"
    log.write_text(SHIFTED.read_text(encoding="utf-8"), encoding="utf-8")
    watch = ("monitor", "watch", *common, "--window", "300", "--interval", "0")
    second = shell(*watch, "--log", str(log), "--max-windows", "1", who="watcher")
    assert second.exit_code == ExitCode.MONITOR_BREACH, second.output
    assert "already in flight" in second.output
    assert len(shell.json("retrain", "show", request_id)["attempts"]) == 1

    # People decide on the data; a watcher's next poll carries the retraining on. Its log
    # has no traffic yet, so the watch ends after its one poll.
    shell.ok("requests", "approve", data_request, "--role", "data_steward", "--comment",
             "redacted window reviewed", who="steward")  # fmt: skip
    quiet = tmp_path / "quiet.jsonl"
    resumed = shell(*watch, "--log", str(quiet), "--max-polls", "1", who="watcher")
    assert resumed.exit_code == 0, resumed.output
    assert "succeeded" in resumed.output

    shown = shell.json("retrain", "show", request_id)
    (done,) = shown["attempts"]
    assert (shown["status"], done["state"]) == ("open", "succeeded")
    assert done["window"] == first["window"] and done["failure"] is None
    promotion = json.loads(shell.ok("requests", "show", done["promotion_request"]).stdout)
    assert (promotion["status"], promotion["ref"]) == ("pending", done["candidate"])
    # Never a promotion: the candidate has no stage, the monitored version is still live.
    assert shell.json("models", "show", done["candidate"])["version"]["stage"] is None
    assert shell.json("models", "show", model)["version"]["stage"] == "production"
