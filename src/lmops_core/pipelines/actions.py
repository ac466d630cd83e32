"""What each pipeline action does, through the SDK, as the step's actor.

Each action takes the runner (for paths, people and progress), the workspace
acting as the step's actor, and the step's resolved spec; it returns the
step's :class:`~lmops_core.pipelines.runner.StepResult`.
"""

from __future__ import annotations

import inspect
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_core.errors import PluginError, PolicyViolationError, StageError, ValidationError
from lmops_core.evidence_summary import format_metrics
from lmops_core.governance.access import check_user_role
from lmops_core.pipelines.result import StepResult
from lmops_core.safepaths import join_inside
from lmops_core.workspace import Workspace

if TYPE_CHECKING:
    from lmops_core.pipelines.runner import PipelineRunner


def _check_replies(prompts: list[str], replies: list[str], expected: list[str]) -> None:
    if len(expected) != len(prompts):
        raise ValidationError(
            f"serve: expect lists {len(expected)} replies for {len(prompts)} prompts",
            field="serve.expect",
        )
    for prompt, got, want in zip(prompts, replies, expected, strict=True):
        if got.strip() != want.strip():
            raise StageError(f"serve: the reply to {prompt!r} was {got!r}, expected {want!r}")


def _people(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    from lmops_core.errors import ConflictError

    name = spec["admin"]
    try:
        admin = runner.ws.with_token(
            runner.ws.governance.bootstrap_admin(
                name, description=f"pipeline {runner.pipeline.name}"
            )
        )
        lines = [f"{name}: admin (bootstrapped; its token stays in this process)"]
    except ConflictError:
        admin = runner.acting_as(name)  # the store has an admin: act with its credential
        lines = [f"{name}: admin ({admin.identity.describe()})"]
    runner.people[name] = admin
    for user, roles in spec["roles"].items():
        for role in roles:
            admin.governance.grant_role(user, role)
        token = admin.governance.create_token(user, description=f"pipeline {runner.pipeline.name}")
        runner.people[user] = runner.ws.with_token(token)
        lines.append(f"{user}: {'/'.join(roles)} (token)")
    for user in spec["signing_keys"]:
        fingerprint = _personal_key(runner, admin, user)
        lines.append(f"{user}: personal signing key {fingerprint} registered by {name}")
    return StepResult(value=None, summary="\n".join(lines))


def _personal_key(runner: PipelineRunner, admin: Workspace, user: str) -> str:
    """Generate ``user``'s key locally (0600), have the admin register its public half."""
    import uuid

    from lmops_core.governance.identity import public_pem, write_private_key

    folder = runner.ws.settings.home / "keys" / "personal"
    path = folder / f"{user}-{uuid.uuid4().hex[:8]}.key"
    key = write_private_key(path)
    public = path.with_name(path.name + ".pub")
    public.write_text(public_pem(key.public_key()), encoding="ascii")
    has_key = any(k.user == user and k.active for k in admin.signing_keys.list())
    registered = (
        admin.signing_keys.rotate(public, user=user)
        if has_key
        else admin.signing_keys.register(user, public)
    )
    runner.people[user] = runner.ws.with_signing_key(path)
    return registered.fingerprint


def _grant(runner: PipelineRunner, ws: Workspace, spec: dict[str, list[str]]) -> StepResult:
    for user, roles in spec.items():
        for role in roles:
            ws.governance.grant_role(user, check_user_role(role))
    return StepResult(value=None, summary=", ".join(f"{u}: {'/'.join(r)}" for u, r in spec.items()))


def _register_dataset(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    if bool(spec["path"]) == bool(spec["paths"]):
        raise ValidationError("register_dataset needs exactly one of path or paths", field="path")
    files = [spec["path"]] if spec["path"] else list(spec["paths"])
    source = runner.path(files[0])
    if len(files) > 1:
        # Several files form one dataset: concatenated in the order given.
        # The dataset's name is not a file name: the combined file gets a fresh one.
        source = ws.settings.home / "tmp" / f"pipeline-{uuid.uuid4().hex}-combined.jsonl"
        source.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "wb") as out:
            for f in files:
                data = runner.path(f).read_bytes()
                out.write(data if data.endswith(b"\n") else data + b"\n")
    try:
        v = ws.register_dataset(
            spec["name"],
            source,
            shape=spec["shape"],
            drop_invalid=spec["drop_invalid"],
            description=spec["description"],
            meta={"sources": [Path(f).name for f in files]},
        )
    finally:
        if len(files) > 1:
            source.unlink(missing_ok=True)
    return StepResult(
        value=v.ref, outputs={"dataset": v.ref}, summary=f"{v.ref}: {v.record_count} records"
    )


def _register_suite(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    v = ws.register_suite(spec["name"], runner.path(spec["path"]), description=spec["description"])
    return StepResult(value=v.ref, outputs={"suite": v.ref}, summary=f"{v.ref}: {v.digest[:19]}...")


def _register_model(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    v = ws.register_model(
        spec["name"], runner.path(spec["path"]), kind=spec["kind"], risk_tier=spec["risk_tier"]
    )
    return StepResult(value=v.ref, outputs={"model": v.ref}, summary=v.ref)


def _run(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    progress = runner.progress() if runner.progress else None
    outcome = ws.run_stage(
        spec["stage"],
        spec["operation"],
        inputs=spec["inputs"],
        params=spec["params"],
        seed=spec["seed"],
        progress=progress,
    )
    value = (
        next(iter(outcome.outputs.values()), None)
        if outcome.outputs
        else next(iter(spec["inputs"].values()), None)
    )
    outputs = dict(outcome.outputs)
    outputs["run"] = outcome.run_id
    made = ", ".join(f"{r}={ref}" for r, ref in outcome.outputs.items()) or "evidence only"
    lines = [f"run {outcome.run_id[:12]}: {made}"]
    for ev in _evidence_of_run(ws, outcome.run_id, outcome.outputs, spec["inputs"]):
        lines.append(f"  {ev}")
    return StepResult(value=value, outputs=outputs, summary="\n".join(lines))


def _evidence_of_run(
    ws: Workspace, run_id: str, outputs: dict[str, str], inputs: dict[str, str]
) -> list[str]:
    lines: list[str] = []
    kinds = ws.plugins.declared_kinds()
    for ref in dict.fromkeys([*outputs.values(), *inputs.values()]):
        for ev in ws.evidence(ref):
            if ev.run_id != run_id or ev.kind == "dataset_card":
                continue
            shown = format_metrics(ev.kind, ev.metrics, kinds=kinds)
            lines.append(f"{ev.kind} on {ref}: {shown}")
    return lines


def _explain(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    from lmops_core.policy import explain_text

    evaluation = ws.governance.explain(spec["ref"], to=spec["to"])
    verdict = "allowed" if evaluation.allowed else "blocked"
    if spec["expect"] and spec["expect"] != verdict:
        raise PolicyViolationError(
            f"expected the policy to find {spec['ref']} "
            f"{spec['expect']} for {spec['to']}, but it is {verdict}:\n" + explain_text(evaluation)
        )
    return StepResult(value=verdict, outputs={"verdict": verdict}, summary=explain_text(evaluation))


def _promote(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    try:
        req = ws.governance.request_promotion(spec["ref"], to=spec["to"])
    except PolicyViolationError as exc:
        if spec["expect"] == "refused":
            return StepResult(
                value=None, outputs={"status": "refused"}, summary=f"refused, as expected: {exc}"
            )
        raise
    if spec["expect"] and spec["expect"] != req.status:
        raise PolicyViolationError(
            f"expected the request to be {spec['expect']}, it is {req.status}"
        )
    needs = ", ".join(f"{n} {r}" for r, n in req.required_approvals.items()) or "none"
    return StepResult(
        value=req.id,
        outputs={"request": req.id, "status": req.status},
        summary=f"request {req.id[:12]} {req.status}; approvals needed: {needs}",
    )


def _await_approval(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    """Go on once people approved the request; stop the run while it is pending."""
    req = ws.governance.get_request(spec["request"])
    if req.status == "pending":
        return StepResult(
            value=None,
            waiting_for=req.id,
            summary=f"waiting for people to decide request {req.id[:12]} ({req.ref} to "
            f"{req.target_stage}); the run stops here and resumes after the decision",
        )
    if req.status != "approved":
        raise PolicyViolationError(f"request {req.id} ({req.ref}) was {req.status}, not approved")
    return StepResult(
        value=req.status,
        outputs={"status": req.status},
        summary=f"request {req.id[:12]} approved: {req.ref} is in {req.target_stage}",
    )


def _approve(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    from lmops_core.errors import AuthenticationError, PermissionDeniedError

    if spec["credential"] == "name-only":
        ws = runner.ws.as_actor(ws.actor)
    try:
        req = ws.governance.decide(
            spec["request"], approve=spec["approve"], role=spec["role"], comment=spec["comment"]
        )
    except (AuthenticationError, PermissionDeniedError) as exc:
        if spec["expect"] == "refused":
            return StepResult(
                value="refused",
                outputs={"status": "refused"},
                summary=f"refused, as expected: {exc}",
            )
        raise
    if spec["expect"] == "refused":
        raise PermissionDeniedError(
            f"expected {ws.actor}'s decision to be refused; it "
            f"was accepted (request is now {req.status})"
        )
    how = ws.identity.describe()
    return StepResult(
        value=req.status,
        outputs={"status": req.status},
        summary=f"{how} ({spec['role']}): request is now {req.status}",
    )


def _bundle(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    from lmops_core.deploy import KeyStore, create_bundle, load_bundle

    keys = KeyStore.for_home(ws.settings.home)
    keys.ensure_active()
    bundles = ws.settings.home / "bundles"
    bundles.mkdir(parents=True, exist_ok=True)
    out = (
        runner.path(spec["out"])
        if spec["out"]
        else join_inside(
            bundles,
            re.sub(r"[^A-Za-z0-9_.-]", "-", spec["ref"]).lstrip(".") or "bundle",
            what="bundle folder",
        )
    )
    info = create_bundle(ws, spec["ref"], out, stage=spec["stage"], keys=keys)
    verified = load_bundle(out, public_keys=keys.public_keys(), store=ws)
    return StepResult(
        value=str(out),
        outputs={"path": str(out), "digest": info.digest},
        summary=f"bundle {out} signed by {verified.key_id}, verified "
        f"({len(verified.manifest.get('members', []))} files)",
    )


def _serve(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    # The target is whatever plugin registered it (lmops-serve offers "local"); none
    # installed fails closed here, naming the target.
    target = ws.plugins.serving_target(spec["target"])
    log = ws.settings.home / "inference.jsonl"
    through: dict[str, str] = {}
    if spec["prompt"] is not None:
        # A target that cannot take a prompt must not serve the bare model instead.
        if "prompt" not in inspect.signature(target.start).parameters:
            raise PluginError(
                f'serving target "{spec["target"]}" cannot serve through a prompt version '
                "(its start() takes no prompt)",
            )
        through["prompt"] = spec["prompt"]
    served = target.start(
        runner.path(spec["bundle"]),
        home=ws.settings.home,
        guard_mode=spec["guard_mode"],
        log_path=log,
        **through,
    )
    replies: list[str] = []
    try:
        deadline = time.monotonic() + spec["timeout_s"]
        while served.health() is None:
            if time.monotonic() > deadline:
                raise StageError(
                    f'serving target "{spec["target"]}" did not become '
                    f"healthy within {spec['timeout_s']} s"
                )
            time.sleep(0.5)
        for prompt in spec["prompts"]:
            replies.append(served.generate(prompt, max_new_tokens=spec["max_new_tokens"]))
    finally:
        served.stop()
    if spec["expect"] is not None:
        _check_replies(spec["prompts"], replies, spec["expect"])
    return StepResult(
        value=str(log),
        outputs={"log": str(log), "replies": replies},
        summary="\n".join(f"> {p}\n< {r}" for p, r in zip(spec["prompts"], replies, strict=True)),
    )


def _monitor(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    from lmops_core.governance.monitoring import check_monitoring

    current = spec["current"]
    if not current.startswith("dataset:"):  # a file of inference logs, not a version
        name = spec["model"].split(":", 1)[-1].split("@", 1)[0] + "-inference-log"
        current = ws.register_dataset(
            name, runner.path(current), shape="instruction", drop_invalid=True
        ).ref
    progress = runner.progress() if runner.progress else None
    inputs = {"reference": spec["reference"], "current": current, "model": spec["model"]}
    run = ws.run_stage(
        "monitoring", spec["monitor"], params=spec["params"], progress=progress, inputs=inputs
    )
    outcome = check_monitoring(ws, spec["model"], window=current)
    verdict = "breach" if outcome.breached else "ok"
    if spec["expect"] and spec["expect"] != verdict:
        raise PolicyViolationError(
            f"expected monitoring to find {spec['expect']}, it found {verdict}: {outcome.reasons}"
        )
    found = "; ".join(_evidence_of_run(ws, run.run_id, run.outputs, inputs))
    summary = f"window {current}: {found or 'no evidence recorded'}; {verdict}"
    if outcome.breached:
        summary += f"; actions: {', '.join(outcome.actions)}"
    return StepResult(
        value=verdict, outputs={"verdict": verdict, "current": current}, summary=summary
    )


def _verify_audit(runner: PipelineRunner, ws: Workspace, spec: dict[str, Any]) -> StepResult:
    result = ws.verify_audit()
    if not result.ok:
        raise StageError(str(result))
    return StepResult(value=result.events, summary=str(result))


Action = Callable[["PipelineRunner", Workspace, Any], StepResult]

#: Every action a step may name, by its key in the pipeline file.
ACTIONS: dict[str, Action] = {
    "people": _people,
    "grant": _grant,
    "register_dataset": _register_dataset,
    "register_model": _register_model,
    "register_suite": _register_suite,
    "run": _run,
    "explain": _explain,
    "promote": _promote,
    "await_approval": _await_approval,
    "approve": _approve,
    "bundle": _bundle,
    "serve": _serve,
    "monitor": _monitor,
    "verify_audit": _verify_audit,
}
