"""Every hook an lmops plugin may implement, in lifecycle order.

A plugin is a module of functions decorated with :data:`hookimpl`, exposed
through the ``lmops`` entry-point group (or ``LMOPS_PLUGINS``). Implement only
the hooks you need, asking only for the arguments you use: hooks grow by
adding arguments, so a new argument never breaks an old plugin.

Stage hooks follow one style: the host calls ``register_<things>(register)``
once after loading, and the plugin calls ``register(obj)`` for each operation
it offers. The core validates and deduplicates names, remembers which plugin
registered what, and later runs the operation itself, recording inputs,
outputs, evidence, lineage and audit. A plugin never writes the registry.

An operation describes itself (see :class:`~lmops_core.contracts.Operation`):
a one-line ``description``, a ``params_model`` (an
:class:`~lmops_core.contracts.OperationParams` subclass), its ``input_roles``
with the asset type each takes, and the ``evidence_kinds`` it records. The
runner validates parameters and refuses unknown roles before anything runs,
and ``lmops plugins -v`` / ``lmops stage STAGE OP --help`` list all of it.
An evidence kind describes its metrics (type, unit, direction, headline), so
the core shows any plugin's headline results without naming the plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    from lmops_core.artifacts.backend import ArtifactBackend
    from lmops_core.contracts import DecisionEvent, PromotionContext, Register
    from lmops_core.reports.document import ReportSection
    from lmops_core.reports.model import ReportFacts
    from lmops_core.settings import Settings

hookspec = HookspecMarker("lmops")
hookimpl = HookimplMarker("lmops")


# ---------------------------------------------------------------------------
# Artifact storage
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def lmops_artifact_backend(uri: str, settings: Settings) -> ArtifactBackend | None:
    """Open the artifact backend that serves ``uri``.

    Called when a workspace opens its artifact store, with the configured
    ``artifact_uri`` (for example ``local:///srv/lmops/artifacts`` or
    ``s3://bucket/prefix``) and the active ``settings``.

    Return an :class:`~lmops_core.artifacts.backend.ArtifactBackend` if this
    plugin serves the URI's scheme, else ``None``. The first non-``None``
    result wins; the built-in local backend is registered ``trylast`` so a
    plugin can take over any scheme.
    """


# ---------------------------------------------------------------------------
# Runtimes: models and guards other plugins use
# ---------------------------------------------------------------------------


@hookspec
def register_model_runtimes(register: Register) -> None:
    """Offer runtimes that open model versions of given kinds.

    Called once, the first time the host's registrations are read. Call
    ``register(runtime)`` with a :class:`~lmops_core.runtimes.ModelRuntime`
    for each model kind the plugin can open (``"base"``, ``"adapter"``,
    ``"onnx"``...); one kind has at most one runtime across plugins (a second
    is a :class:`~lmops_core.errors.PluginError` naming both plugins). The
    runtime's ``load`` must import its ML libraries when called, not at
    registration, and return a :class:`~lmops_core.runtimes.LoadedModel`
    (plus the :class:`~lmops_core.runtimes.ScoringModel` methods when it
    declares the ``"score"`` capability).

    Operations never import a runtime's plugin: they call
    ``context.load_model(role)``, which opens the input with the runtime
    registered for its kind (with the ``"base"`` input when the runtime
    ``needs_base``), and fails with an error naming the kind when no plugin
    offers one. Return value ignored.
    """


@hookspec
def register_guards(register: Register) -> None:
    """Offer guards that find and redact sensitive text (personal data and the like).

    Called once, the first time the host's registrations are read. Call
    ``register(guard)`` with a :class:`~lmops_core.runtimes.Guard`: a unique
    ``name`` and a ``factory(**options)`` returning a
    :class:`~lmops_core.runtimes.TextGuard`. Other plugins reach it through
    ``context.guard(name, **options)`` (an error naming the guard when no
    plugin offers it) or ``context.find_guard(name)`` (``None`` when none is
    installed, an error when some plugin failed to load). Return value
    ignored.
    """


@hookspec
def register_guard_configs(register: Register) -> None:
    """Offer a kind of runtime guard configuration document: how to check one and run it.

    Called once, the first time the host's registrations are read. Call
    ``register(config_type)`` with a :class:`~lmops_core.runtimes.GuardConfigType`
    for each document ``kind`` the plugin understands (lmops-serve offers
    ``"GuardConfig"``); one kind has at most one type across plugins. The core
    never imports the plugin: registering a guard version
    (``Workspace.register_guard``) reads the YAML file, and the type registered
    for its ``kind`` validates it and names its digest, which becomes the
    version's digest; no plugin for the kind fails closed with an error naming
    it. An operation reaches the checks of a guard version through
    ``context.guard_pipeline(role)``. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Data preparation
# ---------------------------------------------------------------------------


@hookspec
def register_data_steps(register: Register) -> None:
    """Offer data-preparation steps (deduplication, filters, PII redaction...).

    Called once after plugins load. Call ``register(step)`` for each
    :class:`~lmops_core.contracts.Operation` offered; ``step.name`` must be
    unique across plugins. When run, the step receives the input dataset
    version under the role ``"dataset"`` and returns an output dataset (role
    ``"dataset"``, ``derived_from=["dataset"]``) plus evidence of what it
    changed. Return value ignored.
    """


@hookspec
def register_data_engines(register: Register) -> None:
    """Offer engines that run data steps' per-chunk work elsewhere (a Ray cluster...).

    Called once, the first time the host's registrations are read. Call
    ``register(engine)`` with a :class:`~lmops_core.runtimes.DataEngine`: a
    unique ``name``, a ``connect()`` returning a
    :class:`~lmops_core.runtimes.ChunkMapper` (fail with a
    :class:`~lmops_core.errors.PluginError` naming the address when the
    cluster cannot be reached), and ``configured()``, true when the settings
    ask for the engine by default. A step reaches it through
    ``context.data_engine(name)`` (``-p engine=NAME``); the engine only maps
    chunks and returns the results in order, the step decides and writes, so
    every engine gives the same output. An engine whose mapper is also a
    :class:`~lmops_core.runtimes.PlannedMapper` (``map_planned``) receives work
    listed up front, such as a partitioned input's row groups
    (:mod:`lmops_core.datasets.row_batches`), as one pipeline of its own.
    lmops registers ``"local"`` (this process) itself. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


@hookspec
def register_trainers(register: Register) -> None:
    """Offer training methods (supervised fine-tuning, LoRA, preference tuning...).

    Called once after plugins load. Call ``register(trainer)`` for each
    :class:`~lmops_core.contracts.Operation`. A trainer typically reads roles
    ``"base"`` (a model version) and ``"dataset"``, and returns model outputs
    (an adapter, optionally a merged model) derived from both, with the loss
    curve in ``StageResult.series``. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------


@hookspec
def register_compressors(register: Register) -> None:
    """Offer compression methods (export to a portable runtime, quantization, pruning).

    Called once after plugins load. Call ``register(compressor)`` for each
    :class:`~lmops_core.contracts.Operation`. A compressor reads the role
    ``"model"`` and returns a derived model version plus evidence of what it
    cost in quality and bought in size and latency. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


@hookspec
def register_evaluators(register: Register) -> None:
    """Offer evaluations (benchmarks, safety probes, serving performance, judges).

    Called once after plugins load. Call ``register(evaluator)`` for each
    :class:`~lmops_core.contracts.Operation`. An evaluator reads the role
    ``"model"`` and returns evidence only (no new versions), whose ``kind``
    policies refer to. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Explainability
# ---------------------------------------------------------------------------


@hookspec
def register_explainers(register: Register) -> None:
    """Offer explanation methods (token attributions and the like).

    Called once after plugins load. Call ``register(explainer)`` for each
    :class:`~lmops_core.contracts.Operation`. An explainer reads the role
    ``"model"`` and returns evidence whose ``artifacts`` hold a report a
    reviewer can open. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------


@hookspec
def register_deployment_targets(register: Register) -> None:
    """Offer deployment targets (bundle formats, serving runtimes).

    Called once after plugins load. Call ``register(target)`` for each
    :class:`~lmops_core.contracts.Operation`. A target reads the role
    ``"model"`` of an approved version and returns evidence of what was
    packaged or where it was deployed. The run names its target stage in the
    parameter ``stage``; the core refuses to run a target unless every model
    and prompt input is in that stage, not revalidation-required, with an
    approved request for its exact content under the current policy, and
    checks again when the run is committed. Return value ignored.
    """


@hookspec
def register_serving_targets(register: Register) -> None:
    """Offer places a verified deployment bundle can be served (a local HTTP service...).

    Called once, the first time the host's registrations are read. Call
    ``register(target)`` with a :class:`~lmops_core.runtimes.ServingTarget`
    for each; ``target.name`` must be unique across plugins. A pipeline's
    ``serve`` step names its target (default ``"local"``): the core looks it up
    by name, fails closed with an error naming the target when no installed
    plugin offers it, calls ``target.start(bundle, ...)`` (with ``prompt=`` only
    when the step serves through a prompt version; a target whose ``start`` takes
    no ``prompt`` is then refused), polls the returned
    :class:`~lmops_core.runtimes.ServedModel`'s ``health()`` until it is up,
    sends prompts through ``generate`` and always calls ``stop()``. Return
    value ignored.
    """


# ---------------------------------------------------------------------------
# Monitoring
# ---------------------------------------------------------------------------


@hookspec
def register_monitors(register: Register) -> None:
    """Offer monitoring checks (data drift, output drift, quality over time).

    Called once after plugins load. Call ``register(monitor)`` for each
    :class:`~lmops_core.contracts.Operation`. A monitor compares a
    ``"reference"`` dataset version with a ``"current"`` one and returns
    evidence (drift flags, scores, a report) attached to the ``"model"``
    role when one is given. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Governance events
# ---------------------------------------------------------------------------


@hookspec
def lmops_before_promotion(promotion: PromotionContext) -> str | None:
    """Veto a promotion before it is committed.

    Called after policy rules pass and the last required approval arrives,
    just before a version enters ``promotion.target_stage``. Return a reason
    string to veto (the promotion is refused and the reason audited), or
    ``None`` to let it through. Every implementation is called; any veto
    blocks.
    """


@hookspec
def lmops_after_decision(decision: DecisionEvent) -> None:
    """Observe a governance decision after it has been committed.

    Called once per transition, after the transaction that recorded it:
    a reviewer's approval or rejection, a promotion (with or without
    approvals), a plugin veto, an expiry, an invalidation, a revocation, a
    revalidation. ``decision.decision`` says which and ``decision.status``
    the resulting status. Use it to notify (chat, ticketing, webhooks).
    Exceptions are logged with the plugin's name and never undo the
    decision; the other observers are still called. Return value ignored.
    """


# ---------------------------------------------------------------------------
# Validation reports
# ---------------------------------------------------------------------------


@hookspec
def lmops_report_sections(facts: ReportFacts) -> list[ReportSection] | None:
    """Add sections to a model version's validation report.

    Called once per report (``lmops report``, the admin API, the SDK's
    ``render_report``), after the core has read the registry facts and before
    the document is built. ``facts`` is the
    :class:`~lmops_core.reports.model.ReportFacts`: the version, its lineage,
    every lineage node's evidence (``facts.latest(ref, kind)``), training
    runs, the version in production and the policy evaluation. Read only
    ``facts`` (no I/O, no clock), so the same store state gives the same
    report digest.

    Return a list of :class:`~lmops_core.reports.document.ReportSection`
    (build blocks with :mod:`lmops_core.reports.blocks`), or ``None`` to add
    nothing. Every implementation is called; each section is placed after the
    core section its ``after`` names. A plugin that raises, or returns
    anything else, fails the report with an error naming it.
    """


# ---------------------------------------------------------------------------
# Registration of extensions
# ---------------------------------------------------------------------------


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands to the ``lmops`` CLI.

    Called once when the CLI starts, with the root ``typer.Typer`` app. Add
    commands or sub-apps with ``cli.command()`` / ``cli.add_typer()``. Return
    value ignored.
    """


@hookspec
def register_policy_checks(register: Register) -> None:
    """Offer functions policy expressions may call.

    Called once after plugins load. Call ``register(check)`` with a
    :class:`~lmops_core.contracts.PolicyCheck` for each; names must be
    unique. Return value ignored.
    """


@hookspec
def register_compliance_packs(register: Register) -> None:
    """Ship compliance packs: a named standard's clauses mapped to policy rules.

    Called when packs are listed or a pack report is written (``lmops packs
    list``, ``lmops report --pack``). Call ``register(path)`` with the path
    (``str`` or ``pathlib.Path``) of each pack file your plugin ships (see
    ``docs/packs.md`` for the format). Packs are loaded and linted like those
    in the policy folder's ``packs/``: a missing file, a broken pack or an id
    another pack already uses is an error naming the plugin or both files.
    Return value ignored.
    """


@hookspec
def register_evidence_kinds(register: Register) -> None:
    """Declare the evidence kinds this plugin produces.

    Called once after plugins load. Call ``register(kind)`` with an
    :class:`~lmops_core.contracts.EvidenceKind` for each, listing its
    :class:`~lmops_core.contracts.Metric` s (type, unit, direction, headline).
    Policy lint and promotion check metric names and types in conditions
    against these declarations, and pipeline summaries, ``lmops stage`` and
    the validation report show each kind's headline metrics. Every kind an
    operation lists in ``evidence_kinds`` must be declared. Return value
    ignored.
    """
