"""Training refuses a dataset that a policy says must be approved-for-training and is not."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lmops_core.errors import PolicyViolationError
from tests.conftest import (
    grant,
    make_model_folder,
    policy_ws,
    policy_yaml,
    write_jsonl,
    write_plugin,
    ws_as,
)

POLICY = policy_yaml(
    "data",
    """
    - name: dataset-approved-for-training
      applies_to: {asset: dataset, transition: approved-for-training}
      evidence:
        - {kind: dataset_card}
      conditions:
        - name: not-empty
          expr: evidence.dataset_card.metrics.records >= 1.0
          message: empty dataset
      approvals:
        - {role: data_steward, count: 1}
      separation_of_duties: true
""",
)

TRAINER = textwrap.dedent("""
    import shutil
    from lmops_core import hookimpl, StageResult, OutputAsset
    from tests.plugin_steps import Step

    def copy_base(context):
        out = context.workdir / "model"
        shutil.copytree(context.input("base").path, out)
        (out / "trained.txt").write_text(context.input("dataset").digest)
        return StageResult(outputs=[OutputAsset(role="model", asset_type="model", path=out,
                                                kind="full", derived_from=["base", "dataset"])])

    @hookimpl
    def register_trainers(register):
        register(Step("copy-trainer", "pretends to train: copies the base model", copy_base))
""")


def test_unapproved_dataset_is_refused_until_approved(tmp_path: Path) -> None:
    plugins = [write_plugin(tmp_path, TRAINER, "copy_trainer.py")]
    ws = policy_ws(tmp_path, POLICY, file="data.yaml", actor="root", plugins=plugins)
    grant(ws, "steward", "data_steward")
    eng = ws_as(ws, "eng", "submitter")
    data = eng.register_dataset(
        "chats", write_jsonl(tmp_path / "c.jsonl", [{"text": "hi"}]), shape="text"
    ).ref
    base = eng.register_model("base", make_model_folder(tmp_path / "m")).ref
    with pytest.raises(
        PolicyViolationError,
        match=r'training input "dataset" \(dataset:chats@1\)'
        r" is not approved-for-training",
    ):
        eng.run_stage("training", "copy-trainer", inputs={"base": base, "dataset": data})
    req = eng.governance.request_promotion(data, to="approved-for-training")
    ws_as(ws, "steward").governance.decide(
        req.id, approve=True, role="data_steward", comment="PII evidence reviewed"
    )
    assert ws.get(data).stage == "approved-for-training"
    outcome = eng.run_stage("training", "copy-trainer", inputs={"base": base, "dataset": data})
    assert sorted(e.parent for e in ws.lineage(outcome.output("model"))) == [
        "dataset:chats@1",
        "model:base@1",
    ]
