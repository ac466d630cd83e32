"""The SDK facade: one object through which services, the CLI and the API act.

``Workspace.open()`` reads settings, opens (and if needed upgrades) the
metadata store, opens the artifact backend chosen by plugins, and loads
plugins. Every state change goes through here, so each one is validated and
audited the same way whichever front end asked for it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lmops_core.annotation.facade import Annotations
from lmops_core.artifacts.store import ArtifactStore
from lmops_core.audit.chain import VerifyResult, verify_session
from lmops_core.audit.checkpoints import read_checkpoint_file
from lmops_core.audit.keys import load_or_create_audit_key
from lmops_core.audit.ledger import AuditLedger, existing_log
from lmops_core.audit.witnesses import audit_witnesses
from lmops_core.contracts import AssetType, ProgressReporter, Stage
from lmops_core.datasets.ingest import Ingested, ingest_file
from lmops_core.datasets.partition_store import (
    PartitionCheck,
    PartitionStatus,
    PartitionsVerified,
    ingest_partitions,
    verify_partitions,
)
from lmops_core.datasets.partitions import PARTITIONED_FORMAT, Partition
from lmops_core.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    ValidationError,
)
from lmops_core.governance.identity import (
    Identity,
    identity_from_key,
    identity_from_token,
    load_private_key,
    name_only,
)
from lmops_core.governance.identity import resolve as resolve_identity
from lmops_core.governance.keys import KeyRegistry
from lmops_core.governance.policy_facts import PolicySource
from lmops_core.governance.schemas import Principal
from lmops_core.governance.signing import (
    DecisionVerifyResult,
    server_public_keys,
    verify_decisions,
)
from lmops_core.governance.workflow import Governance
from lmops_core.guards import check_guard_document
from lmops_core.plugins import PluginHost, load_plugins
from lmops_core.prompts import (
    PromptSpec,
    optimise_prompt,
)
from lmops_core.redaction import redact
from lmops_core.registry import store
from lmops_core.registry.db import Database, describe_store, store_exists
from lmops_core.registry.models import AuditEvent, Run
from lmops_core.registry.names import clean_name, parse_ref
from lmops_core.registry.references import referenced_digests
from lmops_core.registry.schemas import (
    AssetPublic,
    AuditEventPublic,
    DatasetVersionPublic,
    EvidencePublic,
    GuardVersionPublic,
    LineageEdgePublic,
    ModelVersionPublic,
    PromptVersionPublic,
    RunPublic,
    SuiteVersionPublic,
    VersionPublic,
)
from lmops_core.runner import RunOutcome, StageRunner
from lmops_core.settings import Settings, get_settings
from lmops_core.suites import inspect_suite_folder
from lmops_core.terms import GovernedStage, InputRole, LifecycleStage
from lmops_core.validation import checked_public

#: Aliases named like governed stages are set only by the approval workflow.
RESERVED_ALIASES = ("staging", "production", "approved-for-training")
ByteProgress = Callable[[int], None]

_V = TypeVar("_V", bound=VersionPublic)


@dataclass(frozen=True)
class _NewDataset:
    """What a dataset registration was asked to record, whatever the layout of its content."""

    name: str
    source: Path
    shape: str
    description: str
    drop_invalid: bool
    meta: Mapping[str, Any] | None
    tags: Mapping[str, str] | None


def _asset_public(asset_type: AssetType, a: Any) -> AssetPublic:
    return AssetPublic(
        asset_type=asset_type,
        name=a.name,
        description=a.description,
        risk_tier=getattr(a, "risk_tier", None),
        latest_version=a.latest_version,
        created_at=a.created_at,
        created_by=a.created_by,
    )


@checked_public  # every argument checked before it nears the database (lmops_core.validation)
class Workspace:
    """A handle on one lmops store (metadata, artifacts, audit) acting as one actor."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        artifacts: ArtifactStore,
        plugins: PluginHost,
        audit_key: bytes,
        actor: str | None = None,
        identity: Identity | None = None,
        audit_ledger: AuditLedger | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.artifacts = artifacts
        self.plugins = plugins
        self._audit_key = audit_key
        self._ledger = audit_ledger
        self.identity = identity or name_only(actor or settings.actor, embedded=db.is_sqlite)
        # The services below take what they use, never this facade.
        self._audit = store.AuditWriter(
            key=audit_key,
            actor=self.identity.user,
            anchor=audit_ledger.anchor if audit_ledger else None,
            identity=self.identity.method,
        )
        self.policy_source = PolicySource(settings=settings, plugins=plugins)
        self.runner = StageRunner(
            db=db,
            artifacts=artifacts,
            plugins=plugins,
            settings=settings,
            actor=self.identity.user,
            audit=self._audit,
            policy_source=self.policy_source,
            versions=self.get,
        )
        self._governance = Governance(
            db=db,
            identity=self.identity,
            audit=self._audit,
            policy_source=self.policy_source,
            plugins=plugins,
            home=settings.home,
        )

    @property
    def actor(self) -> str:
        """The name this workspace acts as (see :attr:`identity` for how it was verified)."""
        return self.identity.user

    # -- opening ---------------------------------------------------------------

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        actor: str | None = None,
        token: str | None = None,
        signing_key: Path | str | None = None,
        migrate: bool = True,
        create: bool = True,
    ) -> Workspace:
        """Open the store named by ``settings`` (default: the ``LMOPS_*`` environment).

        The workspace acts as the owner of ``token`` (default ``LMOPS_TOKEN``)
        or of the registered personal key in the file ``signing_key`` (default
        ``LMOPS_SIGNING_KEY``); without either, as ``actor`` (default
        ``LMOPS_ACTOR``, else the OS user), a name that may not decide anything
        unless it is the OS user of the embedded (SQLite) store.

        With ``create=False`` a store that does not exist yet is not created:
        :class:`~lmops_core.errors.NotFoundError` names where it was looked for.
        """
        settings = settings or get_settings()
        if not create and not store_exists(settings.resolved_database_url):
            where = describe_store(settings.resolved_database_url)
            raise NotFoundError(f"no lmops store at {where}", store=where)
        settings.home.mkdir(parents=True, exist_ok=True)
        plugins = load_plugins(settings, registrations=False)  # operations load when first used
        db = Database(
            settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
        )
        if migrate:
            db.migrate()
        backend = plugins.hook.lmops_artifact_backend(
            uri=settings.resolved_artifact_uri, settings=settings
        )
        if backend is None:
            raise ConfigurationError(
                f"no installed plugin serves the artifact URI {settings.resolved_artifact_uri!r}"
            )
        key = load_or_create_audit_key(
            settings.home, settings.audit_key, existing_log=existing_log(db)
        )
        artifacts = ArtifactStore(backend)
        ledger = AuditLedger(
            db=db,
            artifacts=artifacts,
            key=key,
            sink_path=settings.audit_checkpoint_sink,
            every=settings.audit_checkpoint_every,
            alerts_path=settings.home / "alerts.jsonl",
            witnesses=audit_witnesses(settings),
        ).open()
        secret = token or (settings.token.get_secret_value() if settings.token else None)
        key_file = Path(signing_key) if signing_key else settings.signing_key
        name = actor or settings.actor
        if secret or key_file:
            with db.read() as s:
                identity = resolve_identity(
                    s,
                    name=name,
                    embedded=db.is_sqlite,
                    token=secret,
                    signing_key=key_file,
                    explicit_name=actor is not None,
                )
        else:
            identity = name_only(name, embedded=db.is_sqlite)
        return cls(
            settings=settings,
            db=db,
            artifacts=artifacts,
            plugins=plugins,
            audit_key=key,
            identity=identity,
            audit_ledger=ledger,
        )

    def _with(self, identity: Identity) -> Workspace:
        return Workspace(
            settings=self.settings,
            db=self.db,
            artifacts=self.artifacts,
            plugins=self.plugins,
            audit_key=self._audit_key,
            identity=identity,
            audit_ledger=self._ledger,
        )

    def as_actor(self, actor: str) -> Workspace:
        """The same store, labelled as another actor (sharing engine and plugins).

        A name carries no credential: the new workspace may register, run and
        read, but any decision it attempts is refused unless ``actor`` is the
        identity already verified here or the OS user of an embedded store.
        Use :meth:`with_token`, :meth:`with_signing_key` to act as someone else.
        """
        if not actor or len(actor) > 128 or "\x00" in actor:
            raise ValidationError("actor names must be 1-128 characters", field="actor")
        if actor == self.identity.user:
            return self._with(self.identity)
        return self._with(name_only(actor, embedded=self.db.is_sqlite))

    def with_token(self, token: str) -> Workspace:
        """The same store, acting as the owner of a bearer token (verified now)."""
        with self.db.read() as s:
            return self._with(identity_from_token(s, token))

    def with_signing_key(self, path: Path | str) -> Workspace:
        """The same store, acting as the owner of a registered personal key file."""
        with self.db.read() as s:
            return self._with(identity_from_key(s, load_private_key(Path(path))))

    def as_principal(self, principal: Principal, *, via: str = "token") -> Workspace:
        """The same store, acting as a principal the admin API authenticated by token."""
        if via != "token" or not principal.token_id or principal.token is None:
            raise AuthenticationError(
                "a principal acts only through the token that authenticated it"
            )
        return self._with(
            Identity(
                user=principal.user,
                method="token",
                token_id=principal.token_id,
                secret=principal.token.get_secret_value(),
            )
        )

    @property
    def signing_keys(self) -> KeyRegistry:
        """Personal signing keys: register, rotate, revoke, list."""
        return KeyRegistry(
            db=self.db, identity=self.identity, audit=self._audit, home=self.settings.home
        )

    def verify_decisions(self, trusted: Mapping[str, Any] | None = None) -> DecisionVerifyResult:
        """Check the signature of every approval decision and key registration.

        ``trusted`` adds server public keys (by fingerprint) to those of this home.
        """
        keys = {**server_public_keys(self.settings.home), **(trusted or {})}
        with self.db.read() as s:
            return verify_decisions(s, keys)

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def governance(self) -> Governance:
        """Policies, roles, tokens and promotion requests: the only door into a stage."""
        return self._governance

    @property
    def annotation(self) -> Annotations:
        """Label Studio export and import, annotator agreement, and sample review."""
        return Annotations(self)

    @property
    def audit_writer(self) -> store.AuditWriter:
        """Appends audit events as this workspace's actor."""
        return self._audit

    # -- registering -------------------------------------------------------------

    def register_dataset(
        self,
        name: str,
        path: Path | str,
        *,
        shape: str,
        description: str = "",
        drop_invalid: bool = False,
        token_counter: Callable[[str], int] | None = None,
        progress: ByteProgress | None = None,
        meta: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> DatasetVersionPublic:
        """Validate a JSONL or Parquet file, or a folder of Parquet partitions, and register
        it as the next dataset version.

        A bad record raises :class:`ValidationError` naming file, line and field,
        and nothing is registered, unless ``drop_invalid``: then the dropped
        count becomes ``ingestion`` evidence. A ``dataset_card`` is attached.
        A folder becomes a partitioned version (format ``parquet-partitions``):
        each ``*.parquet`` file below it one partition, stored one by one; the
        version's digest is the Merkle root over the partitions' digests
        (:mod:`lmops_core.datasets.merkle`) and its card is the merge of theirs.
        """
        source = Path(path)
        clean_name(name)  # a bad name is refused before anything is read or stored
        tmp = self.settings.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        new = _NewDataset(name, source, shape, description, drop_invalid, meta, tags)
        if source.is_dir():
            return self._register_partitioned(new, token_counter, progress)
        ingested = ingest_file(
            source,
            shape=shape,
            tmp_dir=tmp,
            drop_invalid=drop_invalid,
            token_counter=token_counter,
            progress=progress,
            max_record_bytes=self.settings.max_record_bytes,
        )
        with self.artifacts.lease(f"dataset-{source.name}"):
            try:
                info = self.artifacts.put_file(ingested.path)
            finally:
                ingested.path.unlink(missing_ok=True)
            fields = {"digest": info.digest, "size_bytes": info.size, "format": "jsonl"}
            return self._record_dataset(new, ingested, fields)

    def _register_partitioned(
        self,
        new: _NewDataset,
        token_counter: Callable[[str], int] | None,
        progress: ByteProgress | None,
    ) -> DatasetVersionPublic:
        # Every partition is stored under one lease before the version is committed: a
        # failure midway leaves no version, and the stored partitions to `lmops gc`.
        # Partitions are checked and carded on the configured data engine (a Ray cluster
        # when LMOPS_RAY_ADDRESS is set, else this process); a token counter stays here.
        mapper = self.plugins.data_engine(None) if token_counter is None else None
        with self.artifacts.lease(f"dataset-{new.source.name}"):
            ingested = ingest_partitions(
                new.source,
                shape=new.shape,
                artifacts=self.artifacts,
                tmp_dir=self.settings.home / "tmp",
                drop_invalid=new.drop_invalid,
                token_counter=token_counter,
                progress=progress,
                max_record_bytes=self.settings.max_record_bytes,
                mapper=mapper,
            )
            fields = {
                "digest": ingested.root,
                "size_bytes": ingested.size_bytes,
                "format": PARTITIONED_FORMAT,
                "manifest_digest": ingested.manifest_digest,
            }
            return self._record_dataset(new, ingested, fields)

    def _record_dataset(
        self, new: _NewDataset, ingested: Ingested, fields: Mapping[str, Any]
    ) -> DatasetVersionPublic:
        audit = self.audit_writer
        digest = fields["digest"]
        name, source, shape, drop_invalid = new.name, new.source, new.shape, new.drop_invalid
        description, meta, tags = new.description, new.meta, new.tags
        with self.db.write() as s:
            row = store.create_version(
                s,
                audit,
                asset_type="dataset",
                name=name,
                description=description,
                tags=tags,
                fields={
                    **fields,
                    "shape": shape,
                    "record_count": ingested.records,
                    "meta": {"source_file": source.name, **(meta or {})},
                },
            )
            store.attach_evidence(
                s,
                audit,
                asset_type="dataset",
                version=row,
                expected_digest=digest,
                kind="dataset_card",
                stage="data_preparation",
                plugin="lmops-core",
                metrics=ingested.card_metrics,
                details=ingested.card_details,
            )
            store.attach_evidence(
                s,
                audit,
                asset_type="dataset",
                version=row,
                expected_digest=digest,
                kind="ingestion",
                stage="data_preparation",
                plugin="lmops-core",
                metrics={
                    "records_read": ingested.records + ingested.dropped,
                    "records_kept": ingested.records,
                    "records_dropped": ingested.dropped,
                },
                details={
                    "source_file": source.name,
                    "drop_invalid": drop_invalid,
                    "dropped_examples": ingested.dropped_examples,
                },
            )
            return self._typed_public(s, DatasetVersionPublic, row)

    def verify_dataset(self, ref: str, *, workers: int = 4) -> PartitionsVerified:
        """Re-hash a dataset version's content and say which part, if any, changed.

        A partitioned version's manifest must hash to its recorded digest and its
        partitions' Merkle root must be the version's digest (else
        :class:`IntegrityError`); each partition is then re-hashed, ``workers``
        at a time, and reported ``ok``, ``changed`` or ``missing``. A
        single-file version is reported as one partition named after its file.
        """
        version = self.get(ref)
        if not isinstance(version, DatasetVersionPublic):
            raise ValidationError(f"{ref} is not a dataset version", field="ref")
        if version.manifest_digest is not None:
            return verify_partitions(
                self.artifacts, version.manifest_digest, root=version.digest, workers=workers
            )
        try:
            status: PartitionStatus = (
                "ok" if self.artifacts.backend.verify(version.digest) else "changed"
            )
        except NotFoundError:
            status = "missing"
        whole = Partition(
            name=str(version.meta.get("source_file") or "data.jsonl"),
            digest=version.digest,
            size=version.size_bytes,
            rows=version.record_count,
        )
        return PartitionsVerified(root=version.digest, partitions=[PartitionCheck(whole, status)])

    def register_model(
        self,
        name: str,
        folder: Path | str,
        *,
        kind: str = "base",
        description: str = "",
        risk_tier: str | None = None,
        allow_pickle: bool = False,
        meta: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        progress: ByteProgress | None = None,
    ) -> ModelVersionPublic:
        """Register a local model folder (Hugging Face layout) as the next model version.

        Every file is stored by digest and must parse as a known inert format;
        pickle content is refused unless ``allow_pickle`` and a policy lets this
        actor allow it (recorded as ``pickle_allowed`` evidence); symbolic and
        hard links are refused.
        """
        self.plugins.check_model_kind(kind)
        folder = Path(folder)
        if allow_pickle:
            with self.db.read() as s:
                try:
                    tier = risk_tier or store.get_asset(s, "model", name).risk_tier
                except NotFoundError:
                    tier = "standard"
                self.governance.check_pickle_allowed(s, self.actor, tier)
        accepted: list[dict[str, str]] = []
        with self.artifacts.lease(f"model-{name}"):
            info, manifest = self.artifacts.put_tree(
                folder, allow_pickle=allow_pickle, progress=progress, accepted_unsafe=accepted
            )
            return self._record_model(
                name, kind, description, risk_tier, meta, tags, info, manifest, accepted
            )

    def _record_model(
        self,
        name: str,
        kind: str,
        description: str,
        risk_tier: str | None,
        meta: Mapping[str, Any] | None,
        tags: Mapping[str, str] | None,
        info: Any,
        manifest: Any,
        accepted: list[dict[str, str]],
    ) -> ModelVersionPublic:
        fmt = "onnx" if any(e.path.endswith(".onnx") for e in manifest.entries) else "safetensors"
        with self.db.write() as s:
            row = store.create_version(
                s,
                self.audit_writer,
                asset_type="model",
                name=name,
                description=description,
                risk_tier=risk_tier,
                tags=tags,
                fields={
                    "digest": info.digest,
                    "size_bytes": manifest.total_size,
                    "kind": kind,
                    "format": fmt,
                    "meta": {"files": len(manifest.entries), **(meta or {})},
                },
            )
            if accepted:
                # The exception is part of the version's record: reviewers see it as evidence.
                store.attach_evidence(
                    s,
                    self.audit_writer,
                    asset_type="model",
                    version=row,
                    expected_digest=info.digest,
                    kind="pickle_allowed",
                    stage="training",
                    plugin="lmops-core",
                    metrics={"files": len(accepted)},
                    details={"allowed_by": self.actor, "files": accepted},
                )
            return self._typed_public(s, ModelVersionPublic, row)

    def register_suite(
        self, name: str, folder: Path | str, *, description: str = ""
    ) -> SuiteVersionPublic:
        """Register an evaluation suite folder (``suite.yaml`` plus its task folders).

        The folder's digest pins tasks, data and thresholds exactly: changing any
        file makes a new version, so "evaluated with suite:gate@3" is exact. Every
        path the suite names must stay inside the folder (refused otherwise, naming
        the file and field); a suite holding code runs only once approved for use.
        """
        folder = Path(folder)
        if not (folder / "suite.yaml").is_file():
            raise ValidationError(
                f"{folder} has no suite.yaml: a suite folder holds suite.yaml "
                "and the task folders it names",
                file=str(folder),
            )
        with self.artifacts.lease(f"suite-{name}"):
            info, manifest = self.artifacts.put_tree(folder)
            # Inspect the stored copy, not the host folder: what was checked is what runs.
            tmp = self.settings.home / "tmp"
            tmp.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=tmp) as scratch:
                inspection = inspect_suite_folder(
                    self.artifacts.export_tree(info.digest, Path(scratch) / "suite")
                )
            return self._record_suite(name, description, info, manifest, inspection)

    def _record_suite(
        self, name: str, description: str, info: Any, manifest: Any, inspection: Any
    ) -> SuiteVersionPublic:
        with self.db.write() as s:
            row = store.create_version(
                s,
                self.audit_writer,
                asset_type="suite",
                name=name,
                description=description,
                fields={
                    "digest": info.digest,
                    "size_bytes": manifest.total_size,
                    "meta": {
                        "files": len(manifest.entries),
                        "code_files": inspection.code_files,
                        "references": inspection.references,
                    },
                },
            )
            return self._typed_public(s, SuiteVersionPublic, row)

    def register_guard(
        self,
        name: str,
        path: Path | str,
        *,
        description: str = "",
        risk_tier: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> GuardVersionPublic:
        """Register a runtime guard configuration file as the next version of guard ``name``.

        The plugin registered for the document's ``kind`` validates it (none installed:
        refused, naming the kind) and names its digest, which is the version's digest; the
        file itself is stored as an artifact (``file_digest``). A version after the first
        records lineage to the one before it. Promoting a guard version is governed by the
        ``asset: guard`` rules of the policy, like a model's.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"{path}: cannot read: {exc}", file=str(path)) from None
        identity = check_guard_document(self.plugins, data, source=str(path))
        with self.artifacts.lease(f"guard-{name}"):
            info = self.artifacts.put_bytes(data)
            with self.db.write() as s:
                row = store.create_version(
                    s,
                    self.audit_writer,
                    asset_type="guard",
                    name=name,
                    description=description,
                    risk_tier=risk_tier,
                    tags=tags,
                    fields={
                        "digest": identity.digest,
                        "config_kind": identity.kind,
                        "config_name": identity.name,
                        "file_digest": info.digest,
                        "size_bytes": len(data),
                        "meta": {},
                    },
                )
                if row.version > 1:
                    before = parse_ref(f"{name}@{row.version - 1}", asset_type="guard")
                    store.add_lineage(
                        s,
                        self.audit_writer,
                        child_type="guard",
                        child=row,
                        parent_type="guard",
                        parent=store.resolve(s, before, "guard")[1],
                        relation="revises",
                    )
                return self._typed_public(s, GuardVersionPublic, row)

    def create_prompt(
        self,
        name: str,
        template: str,
        *,
        variables: Sequence[str] | None = None,
        description: str = "",
        risk_tier: str | None = None,
        system_prompt: str = "",
        target_model: str | None = None,
    ) -> PromptVersionPublic:
        """Register a prompt template; ``{variable}`` placeholders must match ``variables``.

        ``system_prompt`` is sent before every rendering; ``target_model`` is the reference
        of the model version the prompt is written for (its evaluations and its promotion
        are judged on that model version). Both are part of the version's digest.
        """
        spec = PromptSpec.checked(name, template, variables=variables, system_prompt=system_prompt)
        with self.db.write() as s:
            target = None
            if target_model is not None:
                target = store.resolve(s, parse_ref(target_model, asset_type="model"), "model")[1]
            row = store.create_version(
                s,
                self.audit_writer,
                asset_type="prompt",
                name=name,
                description=description,
                risk_tier=risk_tier,
                fields={
                    "digest": spec.digest(None if target is None else target.digest),
                    "template": spec.template,
                    "variables": list(spec.variables),
                    "system_prompt": spec.system_prompt,
                    "target_model_version_id": None if target is None else target.id,
                    "meta": {},
                },
            )
            return self._typed_public(s, PromptVersionPublic, row)

    #: :func:`lmops_core.prompts.optimise_prompt` itself, this workspace its ``ws``: one
    #: signature and one docstring, so the method and the function cannot drift apart.
    optimise_prompt = optimise_prompt

    # -- reading ---------------------------------------------------------------------

    def get(self, ref: str) -> VersionPublic:
        """The version a reference names (``model:name@3``, ``dataset:x@latest``...)."""
        with self.db.read() as s:
            parsed = parse_ref(ref)
            _, row = store.resolve(s, parsed)
            return self._public(s, parsed.asset_type or "model", row)

    def list_assets(self, asset_type: AssetType) -> list[AssetPublic]:
        """Every asset of ``asset_type``."""
        with self.db.read() as s:
            return [_asset_public(asset_type, a) for a in store.list_assets(s, asset_type)]

    def get_asset(self, asset_type: AssetType, name: str) -> AssetPublic:
        """One asset by type and name (``NotFoundError`` if there is none)."""
        with self.db.read() as s:
            return _asset_public(asset_type, store.get_asset(s, asset_type, name))

    def list_versions(self, asset_type: AssetType, name: str) -> list[VersionPublic]:
        with self.db.read() as s:
            asset = store.get_asset(s, asset_type, name)
            rows = [(asset, v) for v in store.list_versions(s, asset_type, name)]
            return self._publics(s, asset_type, rows)

    def search(
        self,
        asset_type: AssetType,
        *,
        name: str | None = None,
        kind: str | None = None,
        stage: GovernedStage | None = None,
        tags: Mapping[str, str] | None = None,
        metrics: Sequence[str] = (),
        limit: int = 100,
        offset: int = 0,
    ) -> list[VersionPublic]:
        """Versions matching all filters; metrics like ``"eval.acc>=0.6"``."""
        filters = [store.MetricFilter.parse(m) for m in metrics]
        with self.db.read() as s:
            rows = store.search_versions(
                s,
                asset_type,
                name=name,
                kind=kind,
                stage=stage,
                tags=tags,
                metrics=filters,
                limit=limit,
                offset=offset,
            )
            return self._publics(s, asset_type, rows)

    def evidence(
        self, ref: str, *, kind: str | None = None, paired: str | None = None
    ) -> list[EvidencePublic]:
        """The evidence of a version, oldest first (of one ``kind`` when given).

        ``paired``: only the evidence of a prompt version measured with that model version.
        """
        with self.db.read() as s:
            parsed = parse_ref(ref)
            _, row = store.resolve(s, parsed)
            typ = parsed.asset_type or "model"
            with_model = store.ANY_PAIR
            if paired is not None:
                with_model = store.resolve(s, parse_ref(paired, asset_type="model"), "model")[1].id
            return [
                self._evidence_public(s, typ, row, e)
                for e in store.list_evidence(s, typ, row.id, kind, paired=with_model)
            ]

    @staticmethod
    def _evidence_public(s: Any, typ: str, row: Any, e: Any) -> EvidencePublic:
        pair = e.paired_model_version_id
        return EvidencePublic(
            subject=store.ref_of(s, typ, row),
            paired=None
            if pair is None
            else store.ref_of(s, "model", store.version_by_id(s, "model", pair)),
            **redact(
                e.model_dump(exclude={"subject_type", "subject_id", "paired_model_version_id"})
            ),
        )

    def lineage(
        self, ref: str, *, direction: str = "up", depth: int = 10
    ) -> list[LineageEdgePublic]:
        """Edges reachable from ``ref`` going up (ancestors) or down (descendants)."""
        if direction not in ("up", "down"):
            raise ValidationError("direction must be 'up' or 'down'", field="direction")
        edges: list[LineageEdgePublic] = []
        with self.db.read() as s:
            parsed = parse_ref(ref)
            _, row = store.resolve(s, parsed)
            frontier: list[tuple[str, int]] = [(parsed.asset_type or "model", row.id)]
            seen = set(frontier)
            for _ in range(depth):
                nxt: list[tuple[str, int]] = []
                for typ, vid in frontier:
                    for e in store.lineage_edges(s, typ, vid, direction):  # type: ignore[arg-type]
                        child = store.version_by_id(s, e.child_type, e.child_id)
                        parent = store.version_by_id(s, e.parent_type, e.parent_id)
                        edges.append(
                            LineageEdgePublic(
                                child=store.ref_of(s, e.child_type, child),
                                parent=store.ref_of(s, e.parent_type, parent),
                                relation=e.relation,
                                run_id=e.run_id,
                            )
                        )
                        other = (
                            (e.parent_type, e.parent_id)
                            if direction == "up"
                            else (e.child_type, e.child_id)
                        )
                        if other not in seen:
                            seen.add(other)
                            nxt.append(other)
                frontier = nxt
                if not frontier:
                    break
        return edges

    def runs(
        self, *, stage: LifecycleStage | str | None = None, limit: int = 50
    ) -> list[RunPublic]:
        from sqlalchemy import select
        from sqlmodel import col

        with self.db.read() as s:
            q = select(Run).order_by(col(Run.started_at).desc()).limit(limit)
            if stage:
                q = q.where(col(Run.stage) == stage)
            return [_run_public(r) for r in s.execute(q).scalars()]

    def run(self, run_id: str) -> RunPublic:
        with self.db.read() as s:
            row = s.get(Run, run_id)
            if row is None:
                raise NotFoundError(f"run {run_id!r} does not exist", run=run_id)
            return _run_public(row)

    def audit_events(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        request_id: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditEventPublic]:
        """Audit events in chain order after ``after_seq``, at most ``limit``.

        ``subject`` and ``action`` keep the events of one ref and one action;
        ``request_id`` keeps the events about one approval request (its
        creation, each decision, its promotion or its end), which name it in
        ``after.request_id``. Give the request's ref as ``subject`` too: the
        subject is indexed, the event body is not.
        """
        import json

        from sqlalchemy import select
        from sqlmodel import col

        from lmops_core.audit.chain import canonical_json

        with self.db.read() as s:
            q = select(AuditEvent).where(col(AuditEvent.seq) > after_seq)
            if subject:
                q = q.where(col(AuditEvent.subject) == subject)
            if action:
                q = q.where(col(AuditEvent.action) == action)
            if request_id:
                # Event bodies are stored as canonical JSON: the pair reads the same in each.
                pair = canonical_json({"request_id": request_id})[1:-1]
                escaped = pair.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(col(AuditEvent.after).like(f"%{escaped}%", escape="\\"))
            q = q.order_by(col(AuditEvent.seq)).limit(limit)
            return [
                AuditEventPublic.model_validate(
                    {
                        **e.model_dump(),
                        "before": redact(json.loads(e.before)),
                        "after": redact(json.loads(e.after)),
                    }
                )
                for e in s.execute(q).scalars()
            ]

    def verify_audit(self, *, checkpoint: Path | str | None = None) -> VerifyResult:
        """Re-check the whole audit chain, its signed head, genesis and checkpoints.

        The chain is checked against every signed checkpoint found (artifact
        store, external sink) and against ``checkpoint``, a file an auditor
        kept (a checkpoint, or a bundle manifest or report embedding one): a
        truncated or rewritten history fails. A verified head is checkpointed.
        """
        given = read_checkpoint_file(Path(checkpoint)) if checkpoint is not None else None
        if self._ledger is None:
            with self.db.read() as s:
                return verify_session(s, self._audit_key)
        return self._ledger.verify(given)

    def write_audit_checkpoint(self) -> dict[str, Any]:
        """Sign the current audit head and keep it in the artifact store and the sink.

        Refused (``AuditChainError``) when the head does not verify. Returns the
        checkpoint as JSON, for bundles and reports to embed.
        """
        if self._ledger is None:
            raise ConfigurationError("this workspace was built without an audit ledger")
        return self._ledger.write_checkpoint()

    def latest_audit_checkpoint(self) -> dict[str, Any] | None:
        """The newest audit checkpoint in the artifact store, as JSON, or ``None``."""
        return self._ledger.latest_checkpoint() if self._ledger else None

    # -- changing ------------------------------------------------------------------------

    def tag(self, ref: str, key: str, value: str = "") -> None:
        """Set a tag on a version."""
        with self.db.write() as s:
            parsed = parse_ref(ref)
            _, row = store.resolve(s, parsed)
            store.set_tag(
                s,
                self.audit_writer,
                asset_type=parsed.asset_type or "model",
                version=row,
                key=key,
                value=value,
            )

    def set_alias(self, ref: str, alias: str) -> None:
        """Point an alias at a version. Stage names are reserved for the approval workflow."""
        if alias in RESERVED_ALIASES:
            raise ValidationError(
                f"alias {alias!r} is reserved: versions enter {alias} only through an approved "
                "promotion request",
                field="alias",
            )
        with self.db.write() as s:
            parsed = parse_ref(ref)
            asset, row = store.resolve(s, parsed)
            store.set_alias(
                s,
                self.audit_writer,
                asset_type=parsed.asset_type or "model",
                asset=asset,
                alias=alias,
                version=row,
            )

    def attach_evidence(
        self,
        ref: str,
        *,
        kind: str,
        digest: str,
        metrics: Mapping[str, Any],
        details: Mapping[str, Any] | None = None,
        stage: LifecycleStage | str = "evaluation",
        files: Mapping[str, Path] | None = None,
        paired: str | None = None,
    ) -> EvidencePublic:
        """Attach evidence measured outside a plugin (e.g. a validation report).

        ``digest`` must be the digest of the version the evidence was measured
        on: evidence refuses to attach to different content. ``paired`` is the
        model version a prompt version's result was measured with.
        """
        with self.artifacts.lease(f"evidence-{kind}"):
            artifacts = {
                name: self.artifacts.put_file(Path(p)).digest for name, p in (files or {}).items()
            }
            return self._record_evidence(
                ref, kind, digest, metrics, details, stage, artifacts, paired
            )

    def _record_evidence(
        self,
        ref: str,
        kind: str,
        digest: str,
        metrics: Mapping[str, Any],
        details: Mapping[str, Any] | None,
        stage: str,
        artifacts: dict[str, str],
        paired: str | None = None,
    ) -> EvidencePublic:
        with self.db.write() as s:
            parsed = parse_ref(ref)
            _, row = store.resolve(s, parsed)
            typ = parsed.asset_type or "model"
            pair = None
            if paired is not None:
                pair = store.resolve(s, parse_ref(paired, asset_type="model"), "model")[1]
            ev = store.attach_evidence(
                s,
                self.audit_writer,
                asset_type=typ,
                version=row,
                expected_digest=digest,
                kind=kind,
                stage=stage,
                plugin=f"sdk:{self.actor}",
                metrics=metrics,
                details=details,
                artifacts=artifacts,
                paired=pair,
            )
            return self._evidence_public(s, typ, row, ev)

    def run_stage(
        self,
        stage: LifecycleStage | str,
        operation: str,
        *,
        inputs: Mapping[InputRole, str],
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        progress: ProgressReporter | None = None,
    ) -> RunOutcome:
        """Run a plugin's operation for a stage and record everything it produced."""
        try:
            stage = Stage(stage)
        except ValueError:
            raise ValidationError(
                f"unknown stage {stage!r} (expected one of {', '.join(s.value for s in Stage)})",
                field="stage",
            ) from None
        return self.runner.run(
            stage, operation, inputs=inputs, params=params, seed=seed, progress=progress
        )

    def export(self, ref: str, dest: Path) -> Path:
        """Write a version's content (file or folder) to ``dest``, verified."""
        version = self.get(ref)
        if isinstance(version, DatasetVersionPublic) and version.manifest_digest is not None:
            return self.artifacts.export_tree(version.manifest_digest, dest)  # the partitions
        if version.asset_type == "dataset":
            return self.artifacts.export_file(version.digest, dest)
        if version.asset_type in ("model", "suite"):
            return self.artifacts.export_tree(version.digest, dest)
        if isinstance(version, GuardVersionPublic):
            return self.artifacts.export_file(version.file_digest, dest)
        raise ValidationError("prompt versions have no files to export", field="ref")

    def gc(self, *, older_than_seconds: float | None = None) -> dict[str, int]:
        """Sweep abandoned uploads, stale run folders, and blobs nothing references.

        Only what is older than ``older_than_seconds`` (default: the
        ``gc_grace_seconds`` setting) goes, and never a blob a writer holds
        under a lease (a run or registration about to reference it).
        """
        grace = self.settings.gc_grace_seconds if older_than_seconds is None else older_than_seconds
        if not isinstance(grace, int | float) or grace < 0 or grace != grace:
            raise ValidationError(
                f"gc grace period must be a number of seconds >= 0, got {grace!r}",
                field="older_than_seconds",
            )
        swept = self.artifacts.backend.sweep_temporary(older_than_seconds=grace)
        stale = 0
        cutoff = time.time() - grace
        in_flight = self.artifacts.backend.live_leases(older_than_seconds=grace)
        for folder in (self.settings.home / "runs", self.settings.home / "tmp"):
            if not folder.is_dir():
                continue
            for entry in folder.iterdir():
                if folder.name == "runs" and f"run-{entry.name}" in in_flight:
                    continue  # a run still working in this folder
                if entry.stat().st_mtime <= cutoff:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    stale += 1

        def roots() -> tuple[set[str], set[str]]:
            with self.db.read() as s:
                return referenced_digests(s)

        collected = self.artifacts.collect_garbage(referenced=roots, older_than_seconds=grace)
        return {
            "temporary_uploads": swept,
            "stale_work_files": stale,
            "blobs_deleted": collected.blobs_deleted,
            "bytes_freed": collected.bytes_freed,
            "blobs_kept_recent": collected.kept_recent,
            "blobs_kept_leased": collected.kept_leased,
            "blobs_referenced": collected.kept_referenced,
            "stale_leases": collected.stale_leases,
        }

    # -- views -------------------------------------------------------------------------

    def _publics(
        self, s: Any, asset_type: str, rows: Sequence[tuple[Any, Any]]
    ) -> list[VersionPublic]:
        tags, aliases = store.tags_and_aliases(s, asset_type, [v.id for _, v in rows])
        return [
            self._public(s, asset_type, v, asset=a, tags=tags[v.id], aliases=aliases[v.id])
            for a, v in rows
        ]

    def _public(
        self, s: Any, asset_type: str, row: Any, asset: Any = None, **extra: Any
    ) -> VersionPublic:
        return self._typed_public(s, _PUBLIC_TYPES[asset_type], row, asset, **extra)

    def _typed_public(
        self,
        s: Any,
        cls: type[_V],
        row: Any,
        asset: Any | None = None,
        tags: dict[str, str] | None = None,
        aliases: list[str] | None = None,
    ) -> _V:
        """``row`` as the public view ``cls``: the fields every version shares, then the
        fields of its own type (read from the row; ``risk_tier`` from the asset)."""
        asset_type = _ASSET_TYPE_OF[cls]
        asset = asset or store.asset_of(s, asset_type, row)
        fields: dict[str, Any] = {
            "ref": store.version_ref(asset_type, asset.name, row.version),
            "asset_type": asset_type,
            "name": asset.name,
            "meta": redact(row.meta),
            "tags": tags if tags is not None else store.tags_of(s, asset_type, row.id),
            "aliases": aliases if aliases is not None else store.aliases_of(s, asset_type, row.id),
        }
        if asset_type == "prompt" and row.target_model_version_id is not None:
            target = store.version_by_id(s, "model", row.target_model_version_id)
            fields["target_model"] = store.ref_of(s, "model", target)
        for name in cls.model_fields.keys() - fields.keys() - _DERIVED_FIELDS:
            fields[name] = getattr(asset if name in _ASSET_FIELDS else row, name)
        return cls(**fields)


#: The public view of each asset type's versions.
_PUBLIC_TYPES: dict[str, type[VersionPublic]] = {
    "dataset": DatasetVersionPublic,
    "model": ModelVersionPublic,
    "prompt": PromptVersionPublic,
    "suite": SuiteVersionPublic,
    "guard": GuardVersionPublic,
}
_ASSET_TYPE_OF = {cls: asset_type for asset_type, cls in _PUBLIC_TYPES.items()}
#: Fields a version's view takes from its asset rather than from the version row.
_ASSET_FIELDS = frozenset({"risk_tier"})
#: Fields a version's view computes (a reference in place of a row id).
_DERIVED_FIELDS = frozenset({"target_model"})


def _run_public(row: Run) -> RunPublic:
    # Rows written before redaction existed are masked when shown.
    fields = row.model_dump()
    for name in ("params", "info", "error"):
        fields[name] = redact(fields[name])
    return RunPublic(**fields)


__all__ = ["RunOutcome", "Workspace"]
