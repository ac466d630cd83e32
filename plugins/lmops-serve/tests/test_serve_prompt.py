"""Serving a (model, prompt) pair: only a prompt version approved for the bundle's stage and
written for the bundle's model is served, asked again before every generation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lmops_serve.app import create_app

from lmops_core.errors import PolicyViolationError, StageError
from lmops_core.pipelines import PipelineRunner
from lmops_core.pipelines.schema import load_pipeline
from lmops_core.testing import Governed, read_jsonl

from .conftest import POLICY, package

PROMPT_RULE = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: prompt-policy
    rules:
      - name: prompt-prod
        applies_to: {asset: prompt, transition: production}
        conditions:
          - name: targets-a-model
            expr: has(version.target_model)
            message: no target model
        approvals:
          - {role: validator, count: 1}
        separation_of_duties: true
""")


def _approve(store: Governed, ref: str) -> None:
    eng = store.as_user("eng", "submitter")
    request = eng.governance.request_promotion(ref, to="production")
    store.as_user("val", "validator").governance.decide(
        request.id, approve=True, role="validator", comment="wording reviewed"
    )


def test_an_approved_prompt_is_served_and_others_are_refused(
    make_workspace: Callable[..., Governed], tiny_model: Path, tmp_path: Path
) -> None:
    store = make_workspace(entry_points=False, policies={"serve": POLICY, "prompts": PROMPT_RULE})
    packaged = package(store, "tiny-chat", tiny_model, tmp_path / "bundle")
    eng = store.as_user("eng", "submitter")
    approved = eng.create_prompt(
        "support", "Customer says: {message}", system_prompt="Be brief.", target_model=packaged.ref
    ).ref
    _approve(store, approved)
    draft = eng.create_prompt("support", "Client: {message}", target_model=packaged.ref).ref

    def app(prompt: str, **options: object) -> TestClient:
        return TestClient(
            create_app(
                packaged.bundle,
                public_keys=packaged.keys.public_keys(),
                store=store.ws,
                prompt=prompt,
                **options,  # type: ignore[arg-type]
            )
        )

    with pytest.raises(PolicyViolationError) as refused:
        app(draft)
    assert str(refused.value) == (
        f"prompt version {draft} is not approved for production: it is in stage none"
    )
    with pytest.raises(PolicyViolationError, match="without the store"):
        create_app(packaged.bundle, public_keys=packaged.keys.public_keys(), prompt=approved)

    log = tmp_path / "log.jsonl"
    client = app(approved, log_path=log)
    reply = client.post("/v1/generate", json={"prompt": "hello", "max_new_tokens": 4})
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"]["prompt_ref"] == approved
    assert client.get("/version").json()["prompt"]["ref"] == approved
    [line] = [json.loads(x) for x in log.read_text().splitlines()]
    assert line["prompt_ref"] == approved and line["prompt"] == "hello"
    # The request is sent through the prompt: more tokens in than the bare request.
    bare = TestClient(create_app(packaged.bundle, public_keys=packaged.keys.public_keys()))
    bare_in = bare.post("/v1/generate", json={"prompt": "hello", "max_new_tokens": 4})
    assert reply.json()["metrics"]["tokens_in"] > bare_in.json()["metrics"]["tokens_in"]

    # Revoked while served: the next generation is refused, naming the prompt and the stage.
    store.as_user("risk", "risk_officer").governance.revoke(
        approved, stage="production", reason="complaint about wording"
    )
    after = client.post("/v1/generate", json={"prompt": "hello", "max_new_tokens": 4})
    assert after.status_code == 403
    assert f"prompt version {approved} is not approved for production" in after.text


def test_a_prompt_written_for_another_model_is_refused(
    make_workspace: Callable[..., Governed], tiny_model: Path, tmp_path: Path
) -> None:
    store = make_workspace(entry_points=False, policies={"serve": POLICY, "prompts": PROMPT_RULE})
    packaged = package(store, "tiny-chat", tiny_model, tmp_path / "bundle")
    copy = shutil.copytree(tiny_model, tmp_path / "other")
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "note": "another model"}))
    other = store.ws.register_model("other", copy).ref
    eng = store.as_user("eng", "submitter")
    elsewhere = eng.create_prompt("support", "Q: {message}", target_model=other).ref
    _approve(store, elsewhere)
    with pytest.raises(PolicyViolationError, match=f"prompt version {elsewhere} targets {other}"):
        create_app(
            packaged.bundle,
            public_keys=packaged.keys.public_keys(),
            store=store.ws,
            prompt=elsewhere,
        )


def test_serve_model_refuses_a_prompt_it_cannot_check(packaged: Any) -> None:
    """`lmops serve-model --prompt` without the store (--offline): one clear error line."""
    env = {**os.environ, "LMOPS_HOME": str(packaged.home)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lmops_core.cli import main; main()",
            "serve-model",
            str(packaged.bundle),
            "--prompt",
            "prompt:support@1",
            "--offline",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "Error: prompt version prompt:support@1 cannot be checked for production without the "
        "store that approved it"
    ) in done.stderr


def _serve_step(store: Governed, folder: Path, *, target: str, prompt: str) -> PipelineRunner:
    """A pipeline of one ``serve`` step serving ``folder/bundle`` through ``prompt``."""
    path = folder / "serve.yaml"
    path.write_text(
        "apiVersion: lmops/v1\nkind: Pipeline\nname: serve-prompt\nsteps:\n"
        "  - id: serve\n"
        f"    serve: {{bundle: bundle, target: {target}, prompt: '{prompt}', "
        "prompts: [hello], max_new_tokens: 3, guard_mode: 'off'}\n"
    )
    return PipelineRunner(store.ws, load_pipeline(path), base_dir=folder)


@pytest.mark.parametrize("target", ["in-process", "local"])
def test_a_pipeline_serve_step_refuses_an_unapproved_prompt(
    make_workspace: Callable[..., Governed], tiny_model: Path, tmp_path: Path, target: str
) -> None:
    store = make_workspace(policies={"serve": POLICY, "prompts": PROMPT_RULE})
    packaged = package(store, "tiny-chat", tiny_model, tmp_path / "bundle")
    draft = store.as_user("eng", "submitter").create_prompt(
        "support", "Client: {message}", target_model=packaged.ref
    )
    with pytest.raises(StageError) as refused:
        _serve_step(store, tmp_path, target=target, prompt=draft.ref).run()
    # The refusal of `serve-model --prompt`, word for word, whichever target serves.
    assert f"prompt version {draft.ref} is not approved for production: it is in stage none" in (
        str(refused.value)
    )
    assert str(refused.value).startswith("pipeline 'serve-prompt', step 'serve' (serve) failed")
    log = store.ws.settings.home / "inference.jsonl"
    assert not log.exists() or read_jsonl(log) == []  # nothing was served


def test_a_pipeline_serve_step_serves_through_an_approved_prompt(
    make_workspace: Callable[..., Governed], tiny_model: Path, tmp_path: Path
) -> None:
    store = make_workspace(policies={"serve": POLICY, "prompts": PROMPT_RULE})
    packaged = package(store, "tiny-chat", tiny_model, tmp_path / "bundle")
    approved = (
        store.as_user("eng", "submitter")
        .create_prompt("support", "Customer says: {message}", target_model=packaged.ref)
        .ref
    )
    _approve(store, approved)
    results = _serve_step(store, tmp_path, target="in-process", prompt=approved).run()
    [reply] = results["serve"].outputs["replies"]
    assert isinstance(reply, str)
    [logged] = read_jsonl(Path(results["serve"].outputs["log"]))
    assert logged["prompt_ref"] == approved and logged["prompt"] == "hello"
