"""Pipeline files: a governed lifecycle run described in YAML, run step by step.

A pipeline is a list of steps, each with an ``id``, an optional ``as`` (the
actor), and exactly one action. Later steps refer to earlier results with
``${step}`` (the step's main result) or ``${step.role}`` (a named output).
Paths are relative to the pipeline file, or ``package:NAME/path`` for files
shipped inside an installed package. Every action goes through the SDK, so a
pipeline can do nothing a person could not do with the CLI; governance still
decides (a promotion a policy refuses makes the step fail, unless the step says
it ``expect``s that).

People act through real credentials: a ``people`` step bootstraps the named
admin on a store without one (or uses the admin the pipeline runs as), grants
roles, and gives each person a token, or a personal signing key generated and
registered on the spot; later steps ``as`` that person act with it. A step ``as``
someone the pipeline holds no credential for acts under a name only, which may
register and run but never decide.

Actions: ``people``, ``grant``, ``register_dataset``, ``register_model``, ``run``,
``explain``, ``promote``, ``approve``, ``bundle``, ``serve``, ``monitor``,
``verify_audit``.
"""

from __future__ import annotations

import importlib.util
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError

from lmops_core.contracts import ProgressReporter
from lmops_core.errors import LmopsError, PolicyViolationError, StageError, ValidationError
from lmops_core.evidence_summary import format_metrics
from lmops_core.redaction import redact_text
from lmops_core.safepaths import join_inside
from lmops_core.workspace import Workspace

_REF = re.compile(r"\$\{([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?\}")
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RegisterDataset(_Strict):
    name: str
    path: str | None = None
    paths: list[str] | None = None
    shape: str
    drop_invalid: bool = False
    description: str = ""


class RegisterModel(_Strict):
    name: str
    path: str
    kind: str = "base"
    risk_tier: str | None = None


class RunStage(_Strict):
    stage: str
    operation: str
    inputs: dict[str, str] = {}
    params: dict[str, Any] = {}
    seed: int | None = None


class Explain(_Strict):
    ref: str
    to: str
    expect: Literal["allowed", "blocked"] | None = None


class Promote(_Strict):
    ref: str
    to: str
    expect: Literal["pending", "approved", "refused"] | None = None


class Approve(_Strict):
    request: str
    role: str
    comment: str
    approve: bool = True
    #: ``name-only`` acts under the step's name without its credential (to show a refusal).
    credential: Literal["own", "name-only"] = "own"
    expect: Literal["refused"] | None = None


class People(_Strict):
    admin: str
    roles: dict[str, list[str]] = {}
    signing_keys: list[str] = []


class Bundle(_Strict):
    ref: str
    stage: str = "production"
    out: str | None = None


class Serve(_Strict):
    bundle: str
    prompts: list[str]
    max_new_tokens: int = 24
    guard_mode: Literal["redact", "block", "off"] = "redact"
    timeout_s: float = 120.0
    #: The serving target, by the name a plugin registered it under.
    target: str = "local"


class Monitor(_Strict):
    model: str
    reference: str
    current: str
    monitor: str = "drift"
    params: dict[str, Any] = {}
    expect: Literal["ok", "breach"] | None = None


class Step(_Strict):
    """One step: an id, who acts, and exactly one action."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    as_: str | None = Field(default=None, alias="as")
    title: str | None = None
    people: People | None = None
    grant: dict[str, list[str]] | None = None
    register_dataset: RegisterDataset | None = None
    register_model: RegisterModel | None = None
    run: RunStage | None = None
    explain: Explain | None = None
    promote: Promote | None = None
    approve: Approve | None = None
    bundle: Bundle | None = None
    serve: Serve | None = None
    monitor: Monitor | None = None
    verify_audit: dict[str, Any] | None = None

    def action(self) -> tuple[str, Any]:
        given = [(k, v) for k, v in self.__dict__.items()
                 if k not in ("id", "as_", "title") and v is not None]
        if len(given) != 1:
            names = ", ".join(k for k, _ in given) or "none"
            raise ValueError(f"step {self.id!r} needs exactly one action (given: {names})")
        return given[0]


class Pipeline(_Strict):
    """A pipeline file."""

    apiVersion: Literal["lmops/v1"]
    kind: Literal["Pipeline"]
    name: str
    description: str = ""
    actor: str = "ml-engineer"
    steps: list[Step]


def load_pipeline(path: Path) -> Pipeline:
    """Parse and validate a pipeline file; errors name the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}", file=str(path)) from exc
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc}", file=str(path)) from exc
    try:
        pipeline = Pipeline.model_validate(raw)
        seen: set[str] = set()
        for step in pipeline.steps:
            step.action()
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationError(f"{path}: {where}: {first['msg']}", file=str(path),
                              field=where) from None
    except ValueError as exc:
        raise ValidationError(f"{path}: {exc}", file=str(path)) from None
    return pipeline


@dataclass
class StepResult:
    """What a step produced: its main value and named outputs."""

    value: Any
    outputs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


Reporter = Callable[[str, str, StepResult | None], None]

class PipelineRunner:
    """Runs a pipeline's steps against one workspace, as the steps' actors."""

    def __init__(self, ws: Workspace, pipeline: Pipeline, *, base_dir: Path,
                 reporter: Reporter | None = None,
                 progress: Callable[[], ProgressReporter] | None = None) -> None:
        self.ws = ws
        self.pipeline = pipeline
        self.base_dir = base_dir
        self.results: dict[str, StepResult] = {}
        self.produced: set[str] = set()
        """Absolute paths earlier steps wrote (bundles, logs): later steps may name them."""
        self.report = reporter or (lambda *_: None)
        self.progress = progress
        #: Workspaces acting with the credential of each person a ``people`` step set up.
        self.people: dict[str, Workspace] = {}

    def acting_as(self, actor: str) -> Workspace:
        """The workspace acting as ``actor``: with their credential when the pipeline holds one."""
        if actor in self.people:
            return self.people[actor]
        return self.ws.as_actor(actor)

    # -- values ---------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Substitute ``${step}`` and ``${step.output}`` in strings, recursively."""
        if isinstance(value, str):
            whole = _REF.fullmatch(value)
            if whole:
                return self._lookup(whole.group(1), whole.group(2))
            return _REF.sub(lambda m: str(self._lookup(m.group(1), m.group(2))), value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _lookup(self, step: str, output: str | None) -> Any:
        if step not in self.results:
            raise ValidationError(f"${{{step}}} refers to a step that has not run")
        result = self.results[step]
        if output is None:
            return result.value
        if output not in result.outputs:
            raise ValidationError(f"step {step!r} has no output {output!r} (has: "
                                  f"{', '.join(result.outputs) or 'none'})")
        return result.outputs[output]

    def path(self, value: str) -> Path:
        """A path inside the pipeline file's folder, or ``package:NAME/rel/path`` inside a package.

        Checked like every other name that becomes a path: absolute paths, ``..``,
        URLs and symlinks leading out are refused, so a pipeline reads and writes
        only under its own folder (or reads a package's shipped files).
        """
        if value.startswith("package:"):
            package, _, rel = value[len("package:"):].partition("/")
            if not _PACKAGE.fullmatch(package):
                raise ValidationError(f"{value}: {package!r} is not a package name",
                                      field="path")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ValidationError(f"{value}: package {package!r} is not installed")
            root = Path(next(iter(spec.submodule_search_locations)))
            return join_inside(root, rel, what=f"pipeline path {value!r}")
        if value in self.produced:
            return Path(value)
        return join_inside(self.base_dir, value, what="pipeline path")

    # -- running -----------------------------------------------------------------

    def run(self) -> dict[str, StepResult]:
        for step in self.pipeline.steps:
            kind, spec = step.action()
            actor = step.as_ or self.pipeline.actor
            self.report("start", step.title or f"{step.id}: {kind}", None)
            handler = getattr(self, f"_do_{kind}")
            try:
                result = handler(self.acting_as(actor), self.resolve(
                    spec.model_dump() if isinstance(spec, BaseModel) else spec))
            except LmopsError as exc:
                raise StageError(f"pipeline {self.pipeline.name!r}, step {step.id!r} ({kind}) "
                                 f"failed: {redact_text(str(exc))}", step=step.id) from exc
            result.summary = redact_text(result.summary)
            self.results[step.id] = result
            self.produced.update(v for v in (result.value, *result.outputs.values())
                                 if isinstance(v, str) and Path(v).is_absolute())
            self.report("done", step.id, result)
        return self.results

    def _do_people(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        from lmops_core.errors import ConflictError

        name = spec["admin"]
        try:
            admin = self.ws.with_token(self.ws.governance.bootstrap_admin(
                name, description=f"pipeline {self.pipeline.name}"))
            lines = [f"{name}: admin (bootstrapped; its token stays in this process)"]
        except ConflictError:
            admin = self.acting_as(name)  # the store has an admin: act with its credential
            lines = [f"{name}: admin ({admin.identity.describe()})"]
        self.people[name] = admin
        for user, roles in spec["roles"].items():
            for role in roles:
                admin.governance.grant_role(user, role)
            token = admin.governance.create_token(user,
                                                  description=f"pipeline {self.pipeline.name}")
            self.people[user] = self.ws.with_token(token)
            lines.append(f"{user}: {'/'.join(roles)} (token)")
        for user in spec["signing_keys"]:
            fingerprint = self._personal_key(admin, user)
            lines.append(f"{user}: personal signing key {fingerprint} registered by {name}")
        return StepResult(value=None, summary="\n".join(lines))

    def _personal_key(self, admin: Workspace, user: str) -> str:
        """Generate ``user``'s key locally (0600), have the admin register its public half."""
        import uuid

        from lmops_core.governance.identity import public_pem, write_private_key

        folder = self.ws.settings.home / "keys" / "personal"
        path = folder / f"{user}-{uuid.uuid4().hex[:8]}.key"
        key = write_private_key(path)
        public = path.with_name(path.name + ".pub")
        public.write_text(public_pem(key.public_key()), encoding="ascii")
        has_key = any(k.user == user and k.active for k in admin.signing_keys.list())
        registered = (admin.signing_keys.rotate(public, user=user) if has_key
                      else admin.signing_keys.register(user, public))
        self.people[user] = self.ws.with_signing_key(path)
        return registered.fingerprint

    def _do_grant(self, ws: Workspace, spec: dict[str, list[str]]) -> StepResult:
        for user, roles in spec.items():
            for role in roles:
                ws.governance.grant_role(user, role)
        return StepResult(value=None, summary=", ".join(f"{u}: {'/'.join(r)}"
                                                        for u, r in spec.items()))

    def _do_register_dataset(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        if bool(spec["path"]) == bool(spec["paths"]):
            raise ValidationError("register_dataset needs exactly one of path or paths",
                                  field="path")
        files = [spec["path"]] if spec["path"] else list(spec["paths"])
        source = self.path(files[0])
        if len(files) > 1:
            # Several files form one dataset: concatenated in the order given.
            # The dataset's name is not a file name: the combined file gets a fresh one.
            source = ws.settings.home / "tmp" / f"pipeline-{uuid.uuid4().hex}-combined.jsonl"
            source.parent.mkdir(parents=True, exist_ok=True)
            with open(source, "wb") as out:
                for f in files:
                    data = self.path(f).read_bytes()
                    out.write(data if data.endswith(b"\n") else data + b"\n")
        try:
            v = ws.register_dataset(spec["name"], source, shape=spec["shape"],
                                    drop_invalid=spec["drop_invalid"],
                                    description=spec["description"],
                                    meta={"sources": [Path(f).name for f in files]})
        finally:
            if len(files) > 1:
                source.unlink(missing_ok=True)
        return StepResult(value=v.ref, outputs={"dataset": v.ref},
                          summary=f"{v.ref}: {v.record_count} records")

    def _do_register_model(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        v = ws.register_model(spec["name"], self.path(spec["path"]), kind=spec["kind"],
                              risk_tier=spec["risk_tier"])
        return StepResult(value=v.ref, outputs={"model": v.ref}, summary=v.ref)

    def _do_run(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        progress = self.progress() if self.progress else None
        outcome = ws.run_stage(spec["stage"], spec["operation"], inputs=spec["inputs"],
                               params=spec["params"], seed=spec["seed"], progress=progress)
        value = next(iter(outcome.outputs.values()), None) if outcome.outputs else \
            next(iter(spec["inputs"].values()), None)
        outputs = dict(outcome.outputs)
        outputs["run"] = outcome.run_id
        made = ", ".join(f"{r}={ref}" for r, ref in outcome.outputs.items()) or "evidence only"
        lines = [f"run {outcome.run_id[:12]}: {made}"]
        for ev in self._evidence_of_run(ws, outcome.run_id, outcome.outputs, spec["inputs"]):
            lines.append(f"  {ev}")
        return StepResult(value=value, outputs=outputs, summary="\n".join(lines))

    def _evidence_of_run(self, ws: Workspace, run_id: str, outputs: dict[str, str],
                         inputs: dict[str, str]) -> list[str]:
        lines: list[str] = []
        kinds = ws.plugins.declared_kinds()
        for ref in dict.fromkeys([*outputs.values(), *inputs.values()]):
            for ev in ws.evidence(ref):
                if ev.run_id != run_id or ev.kind == "dataset_card":
                    continue
                shown = format_metrics(ev.kind, ev.metrics, kinds=kinds)
                lines.append(f"{ev.kind} on {ref}: {shown}")
        return lines

    def _do_explain(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        from lmops_core.policy import explain_text

        evaluation = ws.governance.explain(spec["ref"], to=spec["to"])
        verdict = "allowed" if evaluation.allowed else "blocked"
        if spec["expect"] and spec["expect"] != verdict:
            raise PolicyViolationError(f"expected the policy to find {spec['ref']} "
                                       f"{spec['expect']} for {spec['to']}, but it is {verdict}:\n"
                                       + explain_text(evaluation))
        return StepResult(value=verdict, outputs={"verdict": verdict},
                          summary=explain_text(evaluation))

    def _do_promote(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        try:
            req = ws.governance.request_promotion(spec["ref"], to=spec["to"])
        except PolicyViolationError as exc:
            if spec["expect"] == "refused":
                return StepResult(value=None, outputs={"status": "refused"},
                                  summary=f"refused, as expected: {exc}")
            raise
        if spec["expect"] and spec["expect"] != req.status:
            raise PolicyViolationError(f"expected the request to be {spec['expect']}, "
                                       f"it is {req.status}")
        needs = ", ".join(f"{n} {r}" for r, n in req.required_approvals.items()) or "none"
        return StepResult(value=req.id, outputs={"request": req.id, "status": req.status},
                          summary=f"request {req.id[:12]} {req.status}; approvals needed: {needs}")

    def _do_approve(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        from lmops_core.errors import AuthenticationError, PermissionDeniedError

        if spec["credential"] == "name-only":
            ws = self.ws.as_actor(ws.actor)
        try:
            req = ws.governance.decide(spec["request"], approve=spec["approve"],
                                       role=spec["role"], comment=spec["comment"])
        except (AuthenticationError, PermissionDeniedError) as exc:
            if spec["expect"] == "refused":
                return StepResult(value="refused", outputs={"status": "refused"},
                                  summary=f"refused, as expected: {exc}")
            raise
        if spec["expect"] == "refused":
            raise PermissionDeniedError(f"expected {ws.actor}'s decision to be refused; it "
                                        f"was accepted (request is now {req.status})")
        how = ws.identity.describe()
        return StepResult(value=req.status, outputs={"status": req.status},
                          summary=f"{how} ({spec['role']}): request is now {req.status}")

    def _do_bundle(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        from lmops_core.deploy import KeyStore, create_bundle, load_bundle

        keys = KeyStore.for_home(ws.settings.home)
        if keys.active_id() is None:
            keys.create()
        bundles = ws.settings.home / "bundles"
        bundles.mkdir(parents=True, exist_ok=True)
        out = self.path(spec["out"]) if spec["out"] else join_inside(
            bundles, re.sub(r"[^A-Za-z0-9_.-]", "-", spec["ref"]).lstrip(".") or "bundle",
            what="bundle folder")
        info = create_bundle(ws, spec["ref"], out, stage=spec["stage"], keys=keys)
        verified = load_bundle(out, public_keys=keys.public_keys(), store=ws)
        return StepResult(value=str(out), outputs={"path": str(out), "digest": info.digest},
                          summary=f"bundle {out} signed by {verified.key_id}, verified "
                                  f"({len(verified.manifest.get('members', []))} files)")

    def _do_serve(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        # The target is whatever plugin registered it (lmops-serve offers "local"); none
        # installed fails closed here, naming the target.
        target = ws.plugins.serving_target(spec["target"])
        log = ws.settings.home / "inference.jsonl"
        served = target.start(self.path(spec["bundle"]), home=ws.settings.home,
                              guard_mode=spec["guard_mode"], log_path=log)
        replies: list[str] = []
        try:
            deadline = time.monotonic() + spec["timeout_s"]
            while served.health() is None:
                if time.monotonic() > deadline:
                    raise StageError(f'serving target "{spec["target"]}" did not become '
                                     f"healthy within {spec['timeout_s']} s")
                time.sleep(0.5)
            for prompt in spec["prompts"]:
                replies.append(served.generate(prompt, max_new_tokens=spec["max_new_tokens"]))
        finally:
            served.stop()
        return StepResult(value=str(log), outputs={"log": str(log), "replies": replies},
                          summary="\n".join(f"> {p}\n< {r}" for p, r in
                                            zip(spec["prompts"], replies, strict=True)))

    def _do_monitor(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        from lmops_core.governance.monitoring import check_monitoring

        current = spec["current"]
        if not current.startswith("dataset:"):  # a file of inference logs, not a version
            name = spec["model"].split(":", 1)[-1].split("@", 1)[0] + "-inference-log"
            current = ws.register_dataset(name, self.path(current), shape="instruction",
                                          drop_invalid=True).ref
        progress = self.progress() if self.progress else None
        inputs = {"reference": spec["reference"], "current": current, "model": spec["model"]}
        run = ws.run_stage("monitoring", spec["monitor"], params=spec["params"],
                           progress=progress, inputs=inputs)
        outcome = check_monitoring(ws, spec["model"])
        verdict = "breach" if outcome.breached else "ok"
        if spec["expect"] and spec["expect"] != verdict:
            raise PolicyViolationError(f"expected monitoring to find {spec['expect']}, "
                                       f"it found {verdict}: {outcome.reasons}")
        found = "; ".join(self._evidence_of_run(ws, run.run_id, run.outputs, inputs))
        summary = f"window {current}: {found or 'no evidence recorded'}; {verdict}"
        if outcome.breached:
            summary += f"; actions: {', '.join(outcome.actions)}"
        return StepResult(value=verdict, outputs={"verdict": verdict, "current": current},
                          summary=summary)

    def _do_verify_audit(self, ws: Workspace, spec: dict[str, Any]) -> StepResult:
        result = ws.verify_audit()
        if not result.ok:
            raise StageError(str(result))
        return StepResult(value=result.events, summary=str(result))
