"""Types exchanged between the core and plugins.

A plugin receives a :class:`StageContext` (materialised, read-only inputs and a
private working folder) and returns a :class:`StageResult` describing files it
wrote and evidence it measured. The core alone writes the registry: it stores
the files as artifacts, creates the versions, evidence, lineage edges, the run
record and the audit events, all in one transaction.

An operation describes itself (a one-line ``description``, a pydantic model of
its parameters, its input roles with the asset type each takes, the evidence
kinds it records) and an evidence kind describes its metrics (:class:`Metric`:
type, unit, direction, headline), so the core can validate a run before it
starts, check policies, and show any plugin's results without naming it.

This module imports nothing else of lmops but errors and the runtime types
(:mod:`lmops_core.runtimes`), so plugins can depend on it without pulling in the
database layer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from lmops_core.datasets.stored import StoredDataset

from lmops_core.errors import PluginError, StageError, ValidationError
from lmops_core.runtimes import (
    ChunkMapper,
    DataEngineSource,
    Guard,
    GuardConfigSource,
    GuardConfigType,
    GuardPipeline,
    GuardSource,
    LoadedModel,
    ModelRuntime,
    RuntimeSource,
    TextGuard,
)

AssetType = Literal["dataset", "model", "prompt", "suite", "guard"]
ASSET_TYPES: tuple[str, ...] = get_args(AssetType)


class Stage(enum.StrEnum):
    """The lifecycle stages, in lifecycle order."""

    DATA_PREPARATION = "data_preparation"
    TRAINING = "training"
    COMPRESSION = "compression"
    EVALUATION = "evaluation"
    EXPLAINABILITY = "explainability"
    DEPLOYMENT = "deployment"
    MONITORING = "monitoring"


class ProgressReporter(Protocol):
    """What a plugin calls to report progress; the CLI renders it as a bar."""

    def start(self, description: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1.0, **fields: Any) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """A progress reporter that shows nothing (services, tests)."""

    def start(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        return None

    def finish(self) -> None:
        return None


@dataclass(frozen=True)
class InputAsset:
    """A registered version handed to a plugin, materialised on local disk.

    ``path`` is a folder for models and a file for datasets; treat it as
    read-only (it may be shared with other runs).

    ``stored`` is set, and ``path`` is ``None``, for a partitioned dataset left in
    the artifact store for a cluster engine's workers to read themselves (an
    operation that declares ``reads_stored_partitions``, run on an engine other
    than ``local``, with an artifact store its workers can open): see
    :mod:`lmops_core.datasets.stored`.
    """

    role: str
    ref: str
    asset_type: AssetType
    kind: str
    digest: str
    path: Path | None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    stored: StoredDataset | None = None

    def local_path(self, dest: Path) -> Path:
        """The input's files on this process's disk: ``path``, or a ``stored`` dataset
        fetched (each partition's digest checked) into the folder ``dest``, for an engine
        whose workers do not read the store themselves."""
        if self.path is not None:
            return self.path
        if self.stored is not None:
            return self.stored.export(dest)
        raise StageError(f'input "{self.role}" ({self.ref}) has no files to read')


class PluginServices(RuntimeSource, GuardSource, GuardConfigSource, DataEngineSource, Protocol):
    """What other plugins offer an operation through the core (the plugin host has these)."""


@dataclass(frozen=True)
class ChildEvidence:
    """One evidence record a child run committed: about ``subject`` (a version reference)."""

    kind: str
    subject: str
    metrics: Mapping[str, Any]
    details: Mapping[str, Any]


@dataclass(frozen=True)
class ChildRun:
    """A run an operation started with :meth:`StageContext.run_child`, already committed.

    ``outputs`` maps each output role to the reference of the version it
    created; ``metrics`` are the run's own numbers; ``evidence`` the records it
    committed, in the order it returned them (a judge's per-sample scores, read
    by the operation that asked for them).
    """

    run_id: str
    outputs: Mapping[str, str]
    metrics: Mapping[str, Any]
    evidence: tuple[ChildEvidence, ...] = ()


class ChildRuns(Protocol):
    """What the runner offers an operation that runs other operations (a sweep's trials).

    ``database_url`` is the metadata store's SQLAlchemy URL, for a plugin that
    keeps state of its own (an optimiser's study) in tables beside the registry.
    """

    database_url: str

    def run(
        self,
        stage: Stage,
        operation: str,
        *,
        inputs: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        progress: ProgressReporter | None = None,
    ) -> ChildRun: ...

    def adopt(self, ref: str) -> None:
        """Count ``ref``, made by a child of an earlier, interrupted run of the same
        operation and actor, as made by this run's children (a resumed sweep's trials)."""
        ...


@dataclass(frozen=True)
class StageContext:
    """Everything a stage operation may use; built by the core for each run.

    ``plugins`` is where :meth:`load_model` and :meth:`guard` find what other
    plugins registered; the runner passes its plugin host. A context built by
    hand without one uses the plugins installed here, loaded once per process.
    """

    stage: Stage
    operation: str
    inputs: Mapping[str, InputAsset]
    params: Mapping[str, Any]
    workdir: Path
    actor: str
    run_id: str
    seed: int | None = None
    progress: ProgressReporter = field(default_factory=NullProgress)
    #: The validated parameters, an instance of the operation's ``params_model`` (``None``
    #: when it declares none); ``params`` holds the same values as a mapping.
    options: Any = None
    plugins: PluginServices | None = field(default=None, repr=False, compare=False)
    #: Set by the runner: runs other operations as runs of their own (:meth:`run_child`).
    children: ChildRuns | None = field(default=None, repr=False, compare=False)

    def run_child(
        self,
        stage: Stage | str,
        operation: str,
        *,
        inputs: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        progress: ProgressReporter | None = None,
    ) -> ChildRun:
        """Run ``operation`` as a run of its own, by the same actor, recorded and committed
        before this returns (its evidence, outputs and lineage), whatever becomes of this run.

        ``inputs`` are version references (``model:tiny@1``). The child run's
        record names this run as its ``parent_run``; its output versions may be
        the subjects of this run's evidence and be listed in
        :attr:`StageResult.released`. A failed child raises the runner's error
        (its failed-run record is kept). Outside a runner this is a
        :class:`StageError`.
        """
        if self.children is None:
            raise StageError(
                f'operation "{self.operation}" runs other operations; run it through a '
                "workspace (the runner offers child runs), not with a hand-built context"
            )
        return self.children.run(
            Stage(stage), operation, inputs=inputs, params=params, seed=seed, progress=progress
        )

    def adopt_child_output(self, ref: str) -> None:
        """Let this run's evidence and :attr:`StageResult.released` name ``ref``, a version
        that a child of an earlier run of the same operation, by the same actor, created
        (a resumed sweep's finished trials); one this run's own children made is accepted
        as it is. Any other version is a :class:`~lmops_core.errors.ValidationError`
        naming it."""
        if self.children is None:
            raise StageError(
                f'operation "{self.operation}" needs the runner; run it through a workspace'
            )
        self.children.adopt(ref)

    def store_url(self) -> str:
        """The metadata store's SQLAlchemy URL (a :class:`StageError` outside a runner)."""
        if self.children is None:
            raise StageError(
                f'operation "{self.operation}" needs the store; run it through a workspace'
            )
        return self.children.database_url

    def input(self, role: str) -> InputAsset:
        """The input bound to ``role``, or a :class:`StageError` naming it."""
        try:
            return self.inputs[role]
        except KeyError:
            have = ", ".join(sorted(self.inputs)) or "none"
            raise StageError(
                f'operation "{self.operation}" needs an input for role "{role}" (given: {have})'
            ) from None

    def _services(self) -> PluginServices:
        if self.plugins is not None:
            return self.plugins
        from lmops_core.plugins import default_host

        return default_host()

    def model_runtime(self, kind: str) -> ModelRuntime:
        """The runtime a plugin registered for model ``kind``, or a PluginError naming it."""
        return self._services().model_runtime(kind)

    def load_model(
        self,
        role: str = "model",
        *,
        threads: int | None = None,
        needs: Sequence[str] = ("generate",),
        base_role: str = "base",
    ) -> LoadedModel:
        """Open the model version under ``role`` with the runtime registered for its kind.

        A kind whose runtime ``needs_base`` (a PEFT adapter) is opened with the
        input under ``base_role`` (``"base"`` unless the operation names its
        base roles otherwise, e.g. a judge's ``"judge_base"``). ``threads`` limits the runtime's CPU
        threads; ``needs`` lists the capabilities the operation uses
        (``"generate"``, ``"score"``). Errors name the role, the kind and the
        plugins that offer runtimes.
        """
        asset = self.input(role)
        if asset.asset_type != "model":
            raise ValidationError(
                f'input "{role}" must be a model version, got a {asset.asset_type}', field=role
            )
        if asset.path is None:
            raise ValidationError(f'input "{role}" has no local path', field=role)
        runtime = self._services().model_runtime(asset.kind)
        base = None
        if runtime.needs_base:
            base_input = self.input(base_role)
            if base_input.path is None:
                raise ValidationError(f'input "{base_role}" has no local path', field=base_role)
            base = base_input.path
        return runtime.open(asset.path, base=base, threads=threads, needs=needs)

    def find_model_runtime(self, kind: str) -> ModelRuntime | None:
        """The runtime a plugin registered for model ``kind``, or ``None`` when none is."""
        return self._services().find_model_runtime(kind)

    def find_guard(self, name: str) -> Guard | None:
        """The guard a plugin registered as ``name``, or ``None`` when none is installed."""
        return self._services().find_guard(name)

    def data_engine(self, name: str | None = None) -> ChunkMapper:
        """The data engine ``name`` to run chunks of a step on, connected.

        ``None`` picks the engine the settings configure (a cluster address),
        else ``"local"`` (this process). Fails with an error naming the engine
        when no plugin offers it or its cluster cannot be reached.
        """
        return self._services().data_engine(name)

    def guard(self, name: str, **options: Any) -> TextGuard:
        """A :class:`~lmops_core.runtimes.TextGuard` built by the guard ``name`` with ``options``.

        Fails with a :class:`PluginError` naming the guard when no plugin offers it.
        """
        found = self.find_guard(name)
        if found is None:
            raise PluginError(
                f'operation "{self.operation}" needs the guard "{name}", which no '
                'installed plugin offers (lmops-presidio offers "pii")',
                guard=name,
            )
        return found.build(**options)

    def guard_config_type(self, kind: str) -> GuardConfigType:
        """The :class:`~lmops_core.runtimes.GuardConfigType` a plugin registered for guard
        configuration documents of ``kind``, or a PluginError naming the kind."""
        return self._services().guard_config_type(kind)

    def guard_pipeline(self, role: str = "guard") -> GuardPipeline:
        """The guard version under ``role`` built into the checks a served model answers
        behind, by the plugin that registered its document kind (lmops-serve offers
        ``"GuardConfig"``); errors name the role, or the kind when no plugin runs it."""
        asset = self.input(role)
        if asset.asset_type != "guard" or asset.path is None:
            raise ValidationError(
                f'input "{role}" ({asset.ref}) must be a guard version, got a {asset.asset_type}',
                field=role,
            )
        return self.guard_config_type(asset.kind).pipeline(asset.path, self)

    def records(self, role: str = "dataset") -> Iterator[dict[str, Any]]:
        """The records of the dataset version under ``role``, each checked against its shape.

        The shape is the version's kind (``instruction``, ``dialogue``, ``text``,
        ``preference``). A partitioned version is read partition by partition, in
        order (locations then read ``ref:partition:row N``). A record that cannot be read or breaks the shape fails
        with a :class:`ValidationError` naming ``ref:line`` and the field.
        """
        from lmops_core.datasets.parts import dataset_parts
        from lmops_core.datasets.readers import iter_records
        from lmops_core.datasets.shapes import SHAPES, RecordError, validate_record

        asset = self.input(role)
        if asset.asset_type != "dataset" or asset.path is None:
            raise ValidationError(
                f'input "{role}" must be a dataset version with a local file', field=role
            )
        if asset.kind not in SHAPES:
            raise ValidationError(
                f'input "{role}" has shape "{asset.kind}", not one of {", ".join(SHAPES)}',
                field=role,
            )
        partitioned = asset.path.is_dir()
        # A partitioned version is read one partition at a time; its locations name it.
        for name, part in dataset_parts(asset.path):
            for location, record, problem in iter_records(part):
                line = location.rsplit(":", 1)[-1]
                where = f"{asset.ref}:{name}:{line}" if partitioned else f"{asset.ref}:{line}"
                if problem is not None:
                    raise ValidationError(f"{where}: {problem}", location=where)
                try:
                    validate_record(asset.kind, record)
                except RecordError as exc:
                    raise ValidationError(
                        f"{where}: {exc}", location=where, field=exc.field
                    ) from None
                yield dict(record)


@dataclass(frozen=True)
class OutputAsset:
    """A file or folder a plugin wrote under ``workdir``, to become a new version.

    ``name`` is the asset it becomes a version of; when ``None`` the core uses
    the asset of the first role in ``derived_from``. ``derived_from`` lists the
    input roles it was made from: they become lineage edges.
    """

    role: str
    asset_type: AssetType
    path: Path
    kind: str
    derived_from: Sequence[str] = ()
    name: str | None = None
    format: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Risk tier (low, standard, high) given to the asset if this output creates it.
    risk_tier: str | None = None


@dataclass(frozen=True)
class EvidenceRecord:
    """A measured result to attach, immutably, to an input or output version.

    ``subject`` is a role (an output's or an input's), or the reference of a
    version one of the run's child runs created (:meth:`StageContext.run_child`).
    ``artifacts`` maps a name to a file under ``workdir`` (an HTML report,
    per-sample outputs). ``paired`` is the input role of the model version the
    result was measured with when ``subject`` is a prompt version: the evidence is
    about that pair (prompt version, model version).
    """

    kind: str
    subject: str
    metrics: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, Path] = field(default_factory=dict)
    paired: str | None = None


@dataclass
class StageResult:
    """What an operation returns: outputs, evidence, and run-level numbers.

    ``released`` lists references of versions the run's child runs created
    whose content ``lmops gc`` may collect (a sweep's losing trials): the
    versions, their evidence and lineage stay; their files go.
    """

    outputs: list[OutputAsset] = field(default_factory=list)
    evidence: list[EvidenceRecord] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)


class OperationParams(BaseModel):
    """Base of an operation's parameter model: unknown names and loose types are refused.

    Strict (a flag is not a count, ``"5"`` is not a number, though an integer
    is accepted where a float is expected) and frozen. Declare each parameter
    as a field with its type, default and constraints (``Field(ge=1)``,
    ``Literal[...]``); the field's ``description`` is what ``lmops stage STAGE
    OP --help`` shows. JSON has no tuples: use ``list`` for sequences.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NoParams(OperationParams):
    """The parameter model of an operation that takes no parameters."""


@runtime_checkable
class Operation(Protocol):
    """A named unit of work a plugin registers for one lifecycle stage.

    Besides ``name``, a one-line ``description`` and ``run(context)``, an
    operation describes itself with class attributes the core reads:

    - ``params_model``: an :class:`OperationParams` subclass. The runner
      validates the run's parameters with it before anything is materialised
      (a :class:`~lmops_core.errors.ValidationError` whose detail ``param``
      names the parameter at fault) and hands the operation the validated
      values, defaults filled in, as ``context.params`` (a mapping) and
      ``context.options`` (the model instance).
    - ``input_roles``: ``{role: asset type}`` (or a tuple of types a role
      accepts); the runner refuses any other role, and an input of another
      type, before anything is materialised.
    - ``evidence_kinds``: the names of the evidence kinds the operation
      records; each must be declared through ``register_evidence_kinds``.
    - ``reads_inputs`` (default ``True``): ``False`` for an operation that never
      opens its inputs' files but hands them to child runs (a sweep). Its
      inputs' ``path`` is then ``None``, and the runner exports each only when a
      child run first takes it as an input; the run records its inputs the same.
    - ``reads_stored_partitions`` (default ``False``): ``True`` for a data step
      whose cluster engine's workers read a partitioned input from the artifact
      store themselves (:attr:`InputAsset.stored`) and may write their output
      partitions there (an output whose ``path`` is a partition manifest file,
      ``format`` ``parquet-partitions``), so the calling process never holds
      the data.

    An operation that omits them is still run (parameters unchecked, any
    role), for plugins written before they existed.
    """

    name: str
    description: str

    def run(self, context: StageContext) -> StageResult: ...


MetricType = Literal["number", "integer", "string", "boolean"]
METRIC_TYPES: tuple[str, ...] = get_args(MetricType)
Direction = Literal["higher", "lower", "none"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)


@dataclass(frozen=True)
class Metric:
    """One metric an evidence kind records.

    ``type`` is ``"number"``, ``"integer"``, ``"string"`` or ``"boolean"``;
    ``unit`` a short unit (``"ms"``, ``"bytes"``, ``"%"``, ``""`` when none);
    ``direction`` says which way is better (``"higher"``, ``"lower"``, or
    ``"none"`` for counts, labels and flags). A ``headline`` metric is shown
    wherever the kind is summarised (pipeline output, ``lmops stage``, the
    validation report). ``name`` may be a ``fnmatch`` pattern (``"*.acc"``)
    where names vary; a pattern cannot be a headline.
    """

    name: str
    type: MetricType
    unit: str = ""
    direction: Direction = "none"
    headline: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise PluginError(f"metric name must be a non-empty string, got {self.name!r}")
        if self.type not in METRIC_TYPES:
            raise PluginError(
                f'metric "{self.name}": type {self.type!r} is not one of {", ".join(METRIC_TYPES)}'
            )
        if self.direction not in DIRECTIONS:
            raise PluginError(
                f'metric "{self.name}": direction {self.direction!r} is not one '
                f"of {', '.join(DIRECTIONS)}"
            )
        if self.headline and self.is_pattern:
            raise PluginError(f'metric pattern "{self.name}" cannot be a headline metric')

    @property
    def is_pattern(self) -> bool:
        """Whether ``name`` is a ``fnmatch`` pattern rather than one metric."""
        return any(ch in self.name for ch in "*?[")


@dataclass(frozen=True)
class EvidenceKind:
    """A kind of evidence, described so policies and summaries can use it without knowing it.

    ``metrics`` lists the :class:`Metric` s the kind records (a mapping
    ``{name: type name}`` is accepted too, and read as metrics with no unit,
    direction or headline). When a kind declares metrics, a policy condition
    reading any other metric of it is an error (``lmops policy lint``, and a
    blocking verdict at promotion). After construction ``metrics`` is a
    mapping ``{name: Metric}`` in declaration order.
    """

    name: str
    description: str
    metrics: Mapping[str, Metric] = field(default_factory=dict)

    # Written out (the dataclass keeps it) so the signature says what is accepted, while the
    # attribute keeps its one type after construction.
    def __init__(
        self,
        name: str,
        description: str,
        metrics: Iterable[Metric] | Mapping[str, Metric | MetricType] = (),
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "metrics", metrics)
        self.__post_init__()

    def __post_init__(self) -> None:
        given: Any = self.metrics
        items: list[Metric] = []
        if isinstance(given, Mapping):
            for key, value in given.items():
                metric = value if isinstance(value, Metric) else Metric(name=key, type=value)
                if metric.name != key:
                    raise PluginError(
                        f'evidence kind "{self.name}": metric declared under '
                        f'"{key}" is named "{metric.name}"'
                    )
                items.append(metric)
        else:
            items = list(given)
        table: dict[str, Metric] = {}
        for metric in items:
            if not isinstance(metric, Metric):
                raise PluginError(f'evidence kind "{self.name}": {metric!r} is not a Metric')
            if metric.name in table:
                raise PluginError(
                    f'evidence kind "{self.name}" declares metric "{metric.name}" twice'
                )
            table[metric.name] = metric
        object.__setattr__(self, "metrics", table)

    @property
    def headline(self) -> tuple[str, ...]:
        """Names of the headline metrics, in declaration order."""
        return tuple(m.name for m in self.metrics.values() if m.headline)

    def metric_types(self) -> dict[str, str]:
        """``{metric name or pattern: type name}``, as policy checks read it."""
        return {m.name: m.type for m in self.metrics.values()}


PolicyCheckFunction = Callable[..., Any]


@dataclass(frozen=True)
class PolicyCheck:
    """A named function a policy expression may call, e.g. ``acme.toxicity(x)``."""

    name: str
    function: PolicyCheckFunction
    description: str = ""


@dataclass(frozen=True)
class PromotionContext:
    """A promotion about to happen, offered to plugins for a veto."""

    request_id: str
    asset_type: AssetType
    ref: str
    version_digest: str
    target_stage: str
    requested_by: str
    evidence: Mapping[str, Mapping[str, Any]]


#: What a :class:`DecisionEvent` reports happened.
Decision = Literal[
    "approved", "rejected", "promoted", "vetoed", "revoked", "expired", "invalidated", "revalidated"
]


@dataclass(frozen=True)
class DecisionEvent:
    """A governance transition that has just been committed.

    ``decision`` is what happened: a reviewer ``approved`` or ``rejected``, the
    version was ``promoted`` (with or without approvals), a plugin ``vetoed``
    the promotion, the request ``expired`` or was ``invalidated``, the version
    was ``revoked`` or ``revalidated``. ``status`` is the request's status
    after it (the version's status for revocation and revalidation).
    """

    request_id: str | None
    ref: str
    target_stage: str
    decision: Decision
    actor: str
    comment: str = ""
    status: str | None = None


Register = Callable[[Any], None]
