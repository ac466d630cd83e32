"""What the retraining tests set up alike: a policy folder with its retraining pipeline, and
a model version approved into production."""

from __future__ import annotations

from pathlib import Path

from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, policy_dir, ws_as


def retrain_policies(tmp: Path, policy: str, file: str, pipeline: str) -> Path:
    """``tmp/policies`` holding ``policy`` as ``file`` and ``pipeline`` as the
    ``pipelines/retrain.yaml`` the policy's retraining names."""
    policies = policy_dir(tmp, policy, file)
    (policies / "pipelines").mkdir()
    (policies / "pipelines" / "retrain.yaml").write_text(pipeline)
    return policies


def in_production(
    ws: Workspace, watcher: Workspace, validator: Workspace, name: str, folder: Path
) -> str:
    """A new version of model ``name`` (weights in ``folder``) registered by ``eng``, its
    ``eval`` (acc 0.7) by ``validator``, asked for by ``watcher`` and approved into
    production by ``validator``: its reference."""
    ref = ws_as(ws, "eng").register_model(name, make_model_folder(folder)).ref
    digest = ws.get(ref).digest
    validator.attach_evidence(ref, kind="eval", digest=digest, metrics={"acc": 0.7})
    request = watcher.governance.request_promotion(ref, to="production")
    validator.governance.decide(request.id, approve=True, role="validator", comment="ok")
    return ref
