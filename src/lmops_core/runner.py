"""Running a lifecycle-stage operation and recording what it did.

The runner first holds the run to what the operation declares (its input roles
and their asset types, then its parameters: :mod:`lmops_core.operations`), then
materialises the input versions into a private folder, calls the
plugin's operation, checks what it returned, stores output files as artifacts,
and then, in ONE transaction, creates the output versions, lineage edges,
evidence, the run record and their audit events. If the plugin raises, or
anything in that transaction fails, nothing of it is kept: only a failed-run
record (with its audit event) is written, so the attempt itself stays visible.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_core.artifacts.backend import StoreOpener
from lmops_core.artifacts.store import ArtifactStore
from lmops_core.contracts import (
    ASSET_TYPES,
    ChildEvidence,
    ChildRun,
    EvidenceRecord,
    InputAsset,
    NullProgress,
    OutputAsset,
    ProgressReporter,
    Stage,
    StageContext,
    StageResult,
)
from lmops_core.datasets.ingest import ingest_file
from lmops_core.datasets.partition_store import (
    PartitionedIngest,
    ingest_partitions,
    ingest_stored_partitions,
    load_manifest,
)
from lmops_core.datasets.partitions import PARTITIONED_FORMAT
from lmops_core.datasets.shapes import SHAPES
from lmops_core.datasets.stored import StoredDataset
from lmops_core.digests import hex_part
from lmops_core.errors import LmopsError, PolicyViolationError, StageError, ValidationError
from lmops_core.operations import OperationSpec, check_inputs, validate_params
from lmops_core.plugins import PluginHost
from lmops_core.redaction import redact, redact_text
from lmops_core.registry import store
from lmops_core.registry.db import Database
from lmops_core.registry.models import Evidence, Run, utcnow
from lmops_core.registry.names import parse_ref
from lmops_core.registry.references import RELEASED
from lmops_core.registry.store import PAIRED_SUBJECTS, AuditWriter
from lmops_core.safepaths import is_inside, join_inside
from lmops_core.settings import Settings
from lmops_core.terms import GovernedStage, InputRole, LifecycleStage

if TYPE_CHECKING:
    from lmops_core.governance.policy_facts import PolicySource
    from lmops_core.registry.schemas import VersionPublic

SUITE_USE_STAGE = "approved-for-use"
"""The stage a suite version holding code must be in before any run may execute it."""


@dataclass
class _Stored:
    output: OutputAsset
    digest: str
    size: int
    fields: dict[str, Any] = field(default_factory=dict)
    card: tuple[dict[str, Any], dict[str, Any]] | None = None


#: The type prefixes an input reference may take, for the error that asks for one.
_PREFIXES = ", ".join(f"{t}:" for t in ASSET_TYPES[:-1]) + f" or {ASSET_TYPES[-1]}:"


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as recorded in runs and audit: secrets masked, recursively (:func:`redact`)."""
    return dict(redact(dict(params)))


def _shared_or_exported(shared: SharedCopies, digest: str, export: Callable[[], Path]) -> Path:
    """The parent's copy of ``digest`` if it holds one, else ``export()``."""
    return shared.get(digest) or export()


def code_version() -> str | None:
    """The git commit of the working directory, if there is one (best effort, 2 s)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass(eq=False)
class SharedCopies:
    """Copies of versions a parent run holds for its children, by digest, in its folder.

    Its materialised inputs (exported and verified once), and the model folders its
    children stored: each was hashed as it was stored and is kept, unchanged, only for
    the parent's lifetime (the parent's run folder is removed when it ends). The inputs
    of a parent that does not read them itself (``reads_inputs = False``) are
    ``pending``: each is exported the first time a child asks for its digest.
    """

    folder: Path
    paths: dict[str, Path] = field(default_factory=dict)
    pending: dict[str, Callable[[], Path]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # children may be threads

    def get(self, digest: str) -> Path | None:
        """The copy of ``digest``, exported now if it is pending, or ``None``."""
        with self._lock:
            if digest not in self.paths and digest in self.pending:
                self.paths[digest] = self.pending.pop(digest)()
            return self.paths.get(digest)

    def keep_models(self, stored: Iterable[_Stored]) -> None:
        """Keep the model folders a child run just stored and committed, for its siblings."""
        for item in stored:
            with self._lock:
                if item.output.asset_type != "model" or item.digest in self.paths:
                    continue
                target = self.folder / "stored" / hex_part(item.digest)
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(item.output.path, target)
                except OSError:  # another file system: the sibling exports its own copy
                    continue
                self.paths[item.digest] = target


@dataclass(eq=False)
class _ChildRuns:
    """The child-run service of one run: same runner and actor, the parent named in each
    child's record, and the versions they create remembered for the parent's result."""

    runner: StageRunner
    parent: str
    operation: tuple[str, str]  # (stage, operation) of the parent
    database_url: str
    #: The parent's recorded code version: its children run in its process, on its code.
    code: str | None = None
    created: dict[str, str] = field(default_factory=dict)  # ref -> asset type
    #: The parent's materialised inputs and its children's stored model folders: a child
    #: given the same version reads that copy instead of exporting its own (a sweep's
    #: trials share one base model; each trial's evaluation reads the adapter just stored).
    shared: SharedCopies | None = None

    def adopt(self, ref: str) -> None:
        if ref in self.created:  # made by this run's own children
            return
        with self.runner.db.read() as s:
            _, row = store.resolve(s, ref)
            creator = s.get(Run, row.run_id) if row.run_id else None
            # The parent itself may have no record: a killed run is never committed.
            if (
                creator is None
                or creator.actor != self.runner.actor
                or (creator.info or {}).get("parent_operation") != list(self.operation)
            ):
                raise ValidationError(
                    f"{ref} was not made by a child of an earlier {self.operation[0]} "
                    f'"{self.operation[1]}" run of {self.runner.actor}; a run adopts only those',
                    field="ref",
                )
        self.created[ref] = parse_ref(ref).asset_type or "model"

    def run(
        self,
        stage: Stage,
        operation: str,
        *,
        inputs: Mapping[InputRole, str],
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        progress: ProgressReporter | None = None,
    ) -> ChildRun:
        outcome = self.runner.run(
            stage,
            operation,
            inputs=inputs,
            params=params,
            seed=seed,
            progress=progress,
            parent={"parent_run": self.parent, "parent_operation": list(self.operation)},
            shared=self.shared,
            parent_code=self.code,
        )
        for ref in outcome.outputs.values():
            self.created[ref] = parse_ref(ref).asset_type or "model"
        with self.runner.db.read() as s:
            rows = [s.get(Evidence, evidence_id) for evidence_id in outcome.evidence_ids]
            evidence = tuple(
                ChildEvidence(
                    kind=row.kind,
                    subject=store.ref_of(
                        s,
                        row.subject_type,
                        store.version_by_id(s, row.subject_type, row.subject_id),
                    ),
                    metrics=dict(row.metrics),
                    details=dict(row.details),
                )
                for row in rows
                if row is not None
            )
        return ChildRun(
            run_id=outcome.run_id,
            outputs=outcome.outputs,
            metrics=outcome.metrics,
            evidence=evidence,
        )


@dataclass(kw_only=True, eq=False)  # compared and hashed by identity
class StageRunner:
    """Runs operations against one store, as one actor.

    It takes what it uses: the database, the artifact store, the plugin host
    (operations, and the context handed to them), the settings (home folder,
    record size limit), the actor and its audit writer, the policy source (the
    training-data gate) and a way to read a version (the deployment gate).
    """

    db: Database
    artifacts: ArtifactStore
    plugins: PluginHost
    settings: Settings
    actor: str
    audit: AuditWriter
    policy_source: PolicySource
    versions: Callable[[str], VersionPublic]

    # -- inputs -------------------------------------------------------------

    def _materialise(
        self,
        inputs: Mapping[InputRole, str],
        into: Path,
        shared: SharedCopies | None = None,
        pending: dict[str, Callable[[], Path]] | None = None,
        opener: StoreOpener | None = None,
    ) -> dict[InputRole, InputAsset]:
        """Export each input version into ``into``, verified; a version already in ``shared``
        (the parent run's inputs, or a model a sibling run stored, same digest) is read
        from there. Given ``pending``, nothing is exported: each input's export is put
        there by digest (for children to ask for) and its ``path`` is ``None``. Given
        ``opener``, a partitioned dataset is not exported either: it stays in the store,
        for the engine's workers to read (its ``stored``)."""
        resolved: dict[InputRole, InputAsset] = {}
        into.mkdir(parents=True, exist_ok=True)
        with self.db.read() as s:
            for role, ref in inputs.items():
                slot = join_inside(into, role, what=f"input role {role!r}")
                parsed = parse_ref(ref)
                if parsed.asset_type is None:
                    raise ValidationError(
                        f'input "{role}": reference {ref!r} needs a type prefix ({_PREFIXES})',
                        field=f"inputs.{role}",
                    )
                asset, version = store.resolve(s, parsed)
                typ = parsed.asset_type
                canonical = store.version_ref(typ, asset.name, version.version)
                if version.status == RELEASED:
                    raise ValidationError(
                        f'input "{role}": {canonical} was released by the run that created it '
                        "(a sweep's losing trial); its files may have been collected by lmops gc",
                        field=f"inputs.{role}",
                    )
                export: Callable[[], Path] | None = None
                stored: StoredDataset | None = None
                meta = dict(version.meta)
                if typ == "dataset" and version.manifest_digest is not None and opener:
                    # The workers read the partitions from the store; this process reads
                    # only the manifest (checked against the version's digest).
                    manifest = load_manifest(
                        self.artifacts, version.manifest_digest, root=version.digest
                    )
                    stored = StoredDataset(opener, manifest, self.artifacts.current_lease())
                    kind = version.shape
                    meta["format"] = version.format
                elif typ == "dataset" and version.manifest_digest is not None:
                    # A partitioned input is a folder of canonical partitions (manifest order
                    # is the order of their names).
                    export = partial(
                        self.artifacts.export_tree, version.manifest_digest, slot / "data"
                    )
                    kind = version.shape
                    meta["format"] = version.format
                elif typ == "dataset":
                    export = partial(
                        self.artifacts.export_file, version.digest, slot / "data.jsonl"
                    )
                    kind = version.shape
                elif typ == "model":
                    export = partial(self.artifacts.export_tree, version.digest, slot)
                    kind = version.kind
                    meta["risk_tier"] = asset.risk_tier
                elif typ == "suite":
                    _check_suite_usable(canonical, version)
                    export = partial(self.artifacts.export_tree, version.digest, slot)
                    kind = "suite"
                elif typ == "guard":
                    export = partial(
                        self.artifacts.export_file, version.file_digest, slot / "guard.yaml"
                    )
                    kind = version.config_kind
                    meta.update(risk_tier=asset.risk_tier, config_name=version.config_name)
                else:
                    kind = "template"
                    meta.update(
                        template=version.template,
                        variables=list(version.variables),
                        system_prompt=version.system_prompt,
                    )
                if export is not None and shared is not None and typ in ("dataset", "model"):
                    export = partial(_shared_or_exported, shared, version.digest, export)
                path: Path | None = None
                if export is not None and pending is not None:
                    pending.setdefault(version.digest, export)
                elif export is not None:
                    path = export()
                resolved[role] = InputAsset(
                    role=role,
                    ref=canonical,
                    asset_type=typ,
                    kind=kind,
                    digest=version.digest,
                    path=path,
                    metadata=meta,
                    stored=stored,
                )
        return resolved

    def _workers_open_store(
        self, spec: OperationSpec | None, params: Mapping[str, Any]
    ) -> StoreOpener | None:
        """How the step's engine's workers open the artifact store, when they are to read
        its partitioned inputs there: the operation says it can, it runs on an engine other
        than ``local`` (named, or the one configured), and the store can be opened by them."""
        if spec is None or not spec.reads_stored_partitions:
            return None
        if self.plugins.data_engine_name(params.get("engine")) == "local":
            return None
        return self.artifacts.backend.worker_opener()

    # -- run ------------------------------------------------------------------

    def run(
        self,
        stage: LifecycleStage,
        operation: str,
        *,
        inputs: Mapping[InputRole, str],
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        progress: ProgressReporter | None = None,
        keep_workdir: bool = False,
        parent: Mapping[str, Any] | None = None,
        shared: SharedCopies | None = None,
        parent_code: str | None = None,
    ) -> RunOutcome:
        registered = self.plugins.operation(stage, operation)
        spec = registered.spec
        check_inputs(
            spec, operation, {role: (ref, _asset_type_of(ref)) for role, ref in inputs.items()}
        )
        run_id = uuid.uuid4().hex
        base = self.settings.home / "runs" / run_id
        workdir = base / "work"
        workdir.mkdir(parents=True)
        started = utcnow()
        t0 = time.perf_counter()
        params = dict(params or {})
        given = dict(params)  # recorded as given, plus what the operation reports it used
        run = Run(
            id=run_id,
            stage=stage.value,
            operation=operation,
            plugin=registered.plugin,
            status="running",
            params=redact_params(params),
            inputs=dict(inputs),
            actor=self.actor,
            # A child run records its parent's code version (same process, same code)
            # instead of asking git again.
            code_version=code_version() if parent is None else parent_code,
            started_at=started,
            info=dict(parent or {}),  # a child run names its parent (run_child)
        )
        children = _ChildRuns(
            self,
            run_id,
            (stage.value, operation),
            self.settings.resolved_database_url,
            code=run.code_version,
        )
        # The lease marks the run as in flight for its whole life: gc leaves its folder and
        # every blob it stores alone until it has committed (or failed).
        in_flight = contextlib.ExitStack()
        in_flight.enter_context(self.artifacts.lease(f"run-{run_id}"))
        try:
            try:
                # Refused parameters fail the run before anything is materialised; the
                # failed-run record keeps the attempt (with its redacted params) visible.
                params, options = (
                    validate_params(spec, params) if spec is not None else (params, None)
                )
                self._check_training_data(stage, inputs)
                gate = self._check_deployment(stage, inputs, params)
                # An operation that only hands its inputs to child runs (a sweep) has them
                # exported when a child first asks, not before.
                lazy = spec is not None and not spec.reads_inputs
                pending: dict[str, Callable[[], Path]] | None = {} if lazy else None
                opener = self._workers_open_store(spec, params)
                resolved = self._materialise(inputs, base / "inputs", shared, pending, opener)
                children.shared = SharedCopies(
                    base / "inputs",
                    {a.digest: a.path for a in resolved.values() if a.path},
                    pending or {},
                )
                ctx = StageContext(
                    stage=stage,
                    operation=operation,
                    inputs=resolved,
                    params=params,
                    workdir=workdir,
                    actor=self.actor,
                    run_id=run_id,
                    seed=seed,
                    progress=progress or NullProgress(),
                    options=options,
                    plugins=self.plugins,
                    children=children,
                )
                result = registered.value.run(ctx)
                if not isinstance(result, StageResult):
                    raise StageError(
                        f'operation "{operation}" of plugin "{registered.plugin}" '
                        f"returned {type(result).__name__}, not a StageResult"
                    )
                self._check(result, resolved, workdir, operation, children.created)
                # Blobs stored from here on are leased until the commit that references
                # them; if anything fails, they are left to `lmops gc` once the lease ends.
                with self.artifacts.lease(f"run-{run_id}"):  # the run's own lease
                    stored = self._store_outputs(result, engine=params.get("engine"))
                    evidence_files = self._store_evidence_files(result)
                    series_digest = (
                        self.artifacts.put_json(result.series).digest if result.series else None
                    )
                    run.status = "succeeded"
                    run.params = redact_params({**given, **result.params})
                    run.metrics = dict(result.metrics)
                    run.info = redact(
                        {
                            **result.info,
                            "duration_s": round(time.perf_counter() - t0, 3),
                            "seed": seed,
                            **run.info,
                            "inputs": {
                                r: {"ref": a.ref, "digest": a.digest} for r, a in resolved.items()
                            },
                        }
                    )
                    run.series_digest = series_digest
                    run.ended_at = utcnow()
                    outcome = self._commit(run, resolved, result, stored, evidence_files, gate)
                    if shared is not None:
                        shared.keep_models(stored.values())
                    return outcome
            except BaseException as exc:
                self._record_failure(run, exc)
                if isinstance(exc, LmopsError) or not isinstance(exc, Exception):
                    raise
                raise StageError(
                    f'{stage.value} operation "{operation}" (plugin "{registered.plugin}") '
                    f"failed: {type(exc).__name__}: {redact_text(str(exc))}",
                    run_id=run_id,
                    plugin=registered.plugin,
                ) from exc
        finally:
            shutil.rmtree(base / "inputs", ignore_errors=True)
            if not keep_workdir and run.status != "failed":
                shutil.rmtree(base, ignore_errors=True)
            in_flight.close()
            # A failed run keeps its work folder (checkpoints to resume from) until `lmops gc`.

    def _check_training_data(self, stage: LifecycleStage, inputs: Mapping[InputRole, str]) -> None:
        """Refuse to train on a dataset a policy says must be approved, unless it is."""
        if stage is not Stage.TRAINING:
            return
        datasets = {
            role: ref for role, ref in inputs.items() if parse_ref(ref).asset_type == "dataset"
        }
        if not datasets:
            return
        rules = self.policy_source.policies().select("dataset", "standard", "approved-for-training")
        if not rules:
            return
        with self.db.read() as s:
            for role, ref in datasets.items():
                _, version = store.resolve(s, ref)
                if version.stage != "approved-for-training":
                    names = ", ".join(sorted({m.rule.name for m in rules}))
                    raise PolicyViolationError(
                        f'training input "{role}" ({ref}) is not approved-for-training; policy '
                        f"rule(s) {names} require an approved dataset: request it with "
                        f"`lmops promote {ref} --to approved-for-training`",
                        field=f"inputs.{role}",
                    )

    def _check_deployment(
        self, stage: LifecycleStage, inputs: Mapping[InputRole, str], params: Mapping[str, Any]
    ) -> GovernedStage | None:
        """Refuse a deployment operation unless every governed input is approved for its stage.

        The target stage is the ``stage`` parameter (required). Every model and
        prompt input must be in that stage now, not revalidation-required, with
        an approved request for exactly its content under the current policy.
        Returns the target stage (re-checked when the run is committed).
        """
        if stage is not Stage.DEPLOYMENT:
            return None
        from lmops_core.deploy.eligibility import check_approved
        from lmops_core.governance.views import RequestViews
        from lmops_core.vocabulary import GOVERNED_STAGES

        target = params.get("stage")
        if not isinstance(target, str) or target not in GOVERNED_STAGES:
            raise ValidationError(
                f"a deployment operation needs the parameter stage= naming the stage it deploys "
                f"to (one of {', '.join(GOVERNED_STAGES)}); got {target!r}",
                field="params.stage",
            )
        governed = {
            role: ref
            for role, ref in inputs.items()
            if parse_ref(ref).asset_type in ("model", "prompt")
        }
        if not governed:
            raise ValidationError(
                f"a deployment operation needs a model or prompt input approved for {target}",
                field="inputs",
            )
        requests = RequestViews(db=self.db)
        for role, ref in governed.items():
            try:
                check_approved(
                    self.versions(ref),
                    stage=target,
                    requests=requests,
                    policies=self.policy_source.policies(),
                )
            except LmopsError as exc:
                raise PolicyViolationError(
                    f'deployment input "{role}" ({ref}) is not approved for {target}: '
                    f"{exc.message}",
                    field=f"inputs.{role}",
                ) from exc
        return target

    def _check(
        self,
        result: StageResult,
        inputs: Mapping[InputRole, InputAsset],
        workdir: Path,
        operation: str,
        children: Mapping[str, str],
    ) -> None:
        output_roles: set[InputRole] = set()
        for out in result.outputs:
            where = f'operation "{operation}" output "{out.role}"'
            if out.role in output_roles:
                raise StageError(f"{where}: role is used twice")
            output_roles.add(out.role)
            if out.asset_type not in ("dataset", "model"):
                raise StageError(f"{where}: asset_type must be dataset or model")
            if not is_inside(workdir, out.path) or not out.path.exists():
                raise StageError(f"{where}: path {out.path} must exist inside the run's workdir")
            if out.asset_type == "dataset" and out.kind not in SHAPES:
                raise StageError(f"{where}: unknown dataset shape {out.kind!r}")
            for parent in out.derived_from:
                if parent not in inputs:
                    raise StageError(f"{where}: derived_from names unknown input {parent!r}")
            if out.name is None and not out.derived_from:
                raise StageError(f"{where}: give a name or at least one derived_from input")
        for ev in result.evidence:
            if (
                ev.subject not in output_roles
                and ev.subject not in inputs
                and (ev.subject not in children)
            ):
                raise StageError(
                    f'operation "{operation}" evidence "{ev.kind}": subject '
                    f"{ev.subject!r} is neither an input nor an output role, nor a "
                    "version one of its child runs created"
                )
            if ev.paired is not None:
                _check_pair(operation, ev, inputs)
            for name, path in ev.artifacts.items():
                if not is_inside(workdir, path) or not Path(path).is_file():
                    raise StageError(
                        f'evidence "{ev.kind}" artifact {name!r}: {path} must be '
                        "a file inside the run's workdir"
                    )
        for ref in result.released:
            if ref not in children:
                raise StageError(
                    f'operation "{operation}" releases {ref!r}, which none of its child runs created'
                )

    def _store_outputs(self, result: StageResult, *, engine: Any = None) -> dict[str, _Stored]:
        """Store each output; a partitioned dataset's partitions are checked and their cards
        built on the data engine the step ran on (its ``engine`` parameter, when it names
        one), else on the configured one."""
        stored: dict[str, _Stored] = {}
        tmp = self.settings.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        for out in result.outputs:
            if out.asset_type == "model":
                info, manifest = self.artifacts.put_tree(out.path)
                fmt = out.format or "safetensors"
                stored[out.role] = _Stored(
                    out, info.digest, manifest.total_size, {"kind": out.kind, "format": fmt}
                )
            elif out.path.is_dir() or out.format == PARTITIONED_FORMAT:
                # A dataset written as partitions: in a folder, or already in the store (the
                # workers stored them; the file lists them).
                known = isinstance(engine, str) and engine in self.plugins.data_engines
                mapper = self.plugins.data_engine(engine if known else None)
                ingest: Callable[..., PartitionedIngest] = (
                    partial(ingest_partitions, tmp_dir=tmp)
                    if out.path.is_dir()
                    else ingest_stored_partitions
                )
                parts = ingest(
                    out.path,
                    shape=out.kind,
                    artifacts=self.artifacts,
                    mapper=mapper,
                    max_record_bytes=self.settings.max_record_bytes,
                )
                stored[out.role] = _Stored(
                    out,
                    parts.root,
                    parts.size_bytes,
                    {
                        "shape": out.kind,
                        "format": PARTITIONED_FORMAT,
                        "record_count": parts.records,
                        "manifest_digest": parts.manifest_digest,
                    },
                    card=(parts.card_metrics, parts.card_details),
                )
            else:
                ingested = ingest_file(
                    out.path,
                    shape=out.kind,
                    tmp_dir=tmp,
                    max_record_bytes=self.settings.max_record_bytes,
                )
                try:
                    info = self.artifacts.put_file(ingested.path)
                finally:
                    ingested.path.unlink(missing_ok=True)
                stored[out.role] = _Stored(
                    out,
                    info.digest,
                    info.size,
                    {"shape": out.kind, "format": "jsonl", "record_count": ingested.records},
                    card=(ingested.card_metrics, ingested.card_details),
                )
        return stored

    def _store_evidence_files(self, result: StageResult) -> list[dict[str, str]]:
        return [
            {
                name: self.artifacts.put_file(Path(path)).digest
                for name, path in ev.artifacts.items()
            }
            for ev in result.evidence
        ]

    def _commit(
        self,
        run: Run,
        inputs: Mapping[InputRole, InputAsset],
        result: StageResult,
        stored: Mapping[str, _Stored],
        evidence_files: list[dict[str, str]],
        gate: GovernedStage | None = None,
    ) -> RunOutcome:
        audit = self.audit
        with self.db.write() as s:
            store.record_run(s, audit, run)
            input_rows = {role: store.resolve(s, a.ref)[1] for role, a in inputs.items()}
            if gate is not None:
                _recheck_deployment(inputs, input_rows, gate)
            # An output may reuse its input's role name; evidence then goes to the output.
            subjects: dict[str, tuple[str, Any, str]] = {
                role: (a.asset_type, input_rows[role], a.digest) for role, a in inputs.items()
            }
            created: dict[str, str] = {}
            for role, st in stored.items():
                out = st.output
                name = out.name or parse_ref(inputs[out.derived_from[0]].ref).name
                row = store.create_version(
                    s,
                    audit,
                    asset_type=out.asset_type,
                    name=name,
                    run_id=run.id,
                    risk_tier=out.risk_tier,
                    fields={
                        "digest": st.digest,
                        "size_bytes": st.size,
                        "meta": dict(out.metadata),
                        **st.fields,
                    },
                )
                subjects[role] = (out.asset_type, row, row.digest)
                created[role] = store.ref_of(s, out.asset_type, row)
                for parent in out.derived_from:
                    store.add_lineage(
                        s,
                        audit,
                        child_type=out.asset_type,
                        child=row,
                        parent_type=inputs[parent].asset_type,
                        parent=input_rows[parent],
                        run_id=run.id,
                    )
                if st.card is not None:
                    store.attach_dataset_card(
                        s,
                        audit,
                        version=row,
                        digest=st.digest,
                        card=st.card,
                        stage=run.stage,
                        run_id=run.id,
                    )
            for ev in result.evidence:
                if ev.subject not in subjects:  # a version a child run created
                    child_type = parse_ref(ev.subject).asset_type or "model"
                    child_row = store.resolve(s, ev.subject)[1]
                    subjects[ev.subject] = (child_type, child_row, child_row.digest)
            for ref in result.released:
                _release(s, audit, ref, run.id)
            evidence_ids: list[int] = []
            for ev, files in zip(result.evidence, evidence_files, strict=True):
                typ, row, expected = subjects[ev.subject]
                saved = store.attach_evidence(
                    s,
                    audit,
                    asset_type=typ,
                    version=row,
                    expected_digest=expected,
                    kind=ev.kind,
                    stage=run.stage,
                    plugin=run.plugin,
                    metrics=ev.metrics,
                    details=ev.details,
                    artifacts=files,
                    run_id=run.id,
                    paired=None if ev.paired is None else input_rows[ev.paired],
                )
                assert saved.id is not None
                evidence_ids.append(saved.id)
        return RunOutcome(
            run_id=run.id, outputs=created, evidence_ids=evidence_ids, metrics=dict(run.metrics)
        )

    def _record_failure(self, run: Run, exc: BaseException) -> None:
        run.status = "failed"
        run.ended_at = utcnow()
        run.error = redact_text("".join(traceback.format_exception_only(type(exc), exc)).strip())[
            :4000
        ]
        run.metrics, run.series_digest = {}, None
        run.info = {k: v for k, v in run.info.items() if k.startswith("parent_")}
        try:
            with self.db.write() as s:
                store.record_run(s, self.audit, run)
        except Exception:  # noqa: BLE001 - never mask the plugin's own error
            return


def _release(session: Any, audit: AuditWriter, ref: str, run_id: str) -> None:
    """Mark a version released: its files become garbage once nothing else references them."""
    _, row = store.resolve(session, ref)
    before = row.status
    row.status = RELEASED
    session.add(row)
    session.flush()
    audit.record(
        session,
        "version.released",
        ref,
        before={"status": before},
        after={"status": RELEASED, "run_id": run_id},
    )


def _check_pair(operation: str, ev: EvidenceRecord, inputs: Mapping[InputRole, InputAsset]) -> None:
    """Paired evidence is about a prompt or guard input, measured with a model input."""
    where = f'operation "{operation}" evidence "{ev.kind}"'
    subject, pair = inputs.get(ev.subject), inputs.get(ev.paired or "")
    if subject is None or subject.asset_type not in PAIRED_SUBJECTS:
        raise StageError(
            f"{where}: only evidence about a prompt or guard input is paired with a model"
        )
    if pair is None or pair.asset_type != "model":
        raise StageError(f"{where}: paired {ev.paired!r} is not a model input role")


def _asset_type_of(ref: Any) -> str | None:
    """The type prefix of a reference, or ``None`` (materialising reports a missing one)."""
    if not isinstance(ref, str):
        return None
    try:
        return parse_ref(ref).asset_type
    except LmopsError:
        return None


def _check_suite_usable(ref: str, version: Any) -> None:
    """A suite holding code (Python files, ``!function``) runs only once approved for use."""
    code = (version.meta or {}).get("code_files") if isinstance(version.meta, dict) else None
    if code is None:
        raise PolicyViolationError(
            f"{ref} was registered before suites were checked for code; register it again "
            "so its files are checked",
            field="inputs",
        )
    if code and version.stage != SUITE_USE_STAGE:
        files = ", ".join(sorted(c["path"] for c in code))
        raise PolicyViolationError(
            f"{ref} contains code ({files}) and is not {SUITE_USE_STAGE}; request it with "
            f"`lmops promote {ref} --to {SUITE_USE_STAGE}`",
            field="inputs",
        )


def _recheck_deployment(
    inputs: Mapping[InputRole, InputAsset], rows: Mapping[InputRole, Any], target: GovernedStage
) -> None:
    """At commit: a governed input revoked or moved while the operation ran fails the run."""
    from lmops_core.governance.decisions import REVALIDATION_REQUIRED

    for role, asset in inputs.items():
        if asset.asset_type not in ("model", "prompt"):
            continue
        row = rows[role]
        if row.stage != target or row.status == REVALIDATION_REQUIRED or row.digest != asset.digest:
            raise PolicyViolationError(
                f'deployment input "{role}" ({asset.ref}) left {target}, was revoked or changed '
                "while the operation ran: nothing it produced is kept",
                field=f"inputs.{role}",
            )


@dataclass(frozen=True)
class RunOutcome:
    """What a successful run produced: the run id, new version refs by role, evidence ids."""

    run_id: str
    outputs: dict[InputRole, str]
    evidence_ids: list[int]
    metrics: dict[str, Any]

    def output(self, role: InputRole) -> str:
        """The reference of the version created for ``role``."""
        try:
            return self.outputs[role]
        except KeyError:
            raise StageError(
                f"the run produced no output {role!r} "
                f"(outputs: {', '.join(self.outputs) or 'none'})"
            ) from None
