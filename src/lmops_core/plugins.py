"""Finding, loading and listing plugins.

Order: built-ins, then distributions in the ``lmops`` entry-point group, then
``LMOPS_PLUGINS`` (module paths or ``.py`` files). A plugin outside the allow
list, or on the deny list, is never imported: names are compared normalised
(PEP 503), and a plugin answers to its entry-point name, its distribution, its
module path (each dotted prefix) or, for a file, its path, name and stem. A
plugin that fails to import is reported by name and reason and skipped; the
rest keep working. Before any plugin is imported, the offline switches of the
ML libraries are set (:mod:`lmops_core.offline`; a user's own value is kept),
so no plugin sets them itself. After loading,
``check_pending()`` turns a misspelled hook into an error.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points, packages_distributions
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar, overload

import pluggy

from lmops_core import hookspecs
from lmops_core.builtins import BUILTIN_PLUGINS
from lmops_core.contracts import EvidenceKind, Operation, PolicyCheck, Stage
from lmops_core.errors import PluginError, ValidationError
from lmops_core.offline import set_offline_defaults
from lmops_core.operations import OperationSpec, describe
from lmops_core.runtimes import (
    ChunkMapper,
    DataEngine,
    Guard,
    GuardConfigType,
    ModelRuntime,
    ServingTarget,
)
from lmops_core.settings import Settings, get_settings
from lmops_core.vocabulary import CORE_MODEL_KINDS

ENTRY_POINT_GROUP = "lmops"

T = TypeVar("T")

#: Which registration hook offers operations for which stage.
STAGE_HOOKS: dict[Stage, str] = {
    Stage.DATA_PREPARATION: "register_data_steps",
    Stage.TRAINING: "register_trainers",
    Stage.COMPRESSION: "register_compressors",
    Stage.EVALUATION: "register_evaluators",
    Stage.EXPLAINABILITY: "register_explainers",
    Stage.DEPLOYMENT: "register_deployment_targets",
    Stage.MONITORING: "register_monitors",
}


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its name, where it came from, and the hooks it implements."""

    name: str
    module: str
    source: str
    version: str | None
    hooks: tuple[str, ...]


@dataclass(frozen=True)
class PluginLoadFailure:
    """A plugin that could not be loaded, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f'Error loading plugin "{self.name}": {self.reason}'


@dataclass(frozen=True)
class Registered:
    """Something a plugin registered, with the plugin that did."""

    plugin: str
    value: Any
    #: What an operation declares about itself (``None`` for other registrations).
    spec: OperationSpec | None = None


@dataclass
class Registrations:
    """What plugins offered through the ``register_*`` hooks."""

    operations: dict[Stage, dict[str, Registered]] = field(default_factory=dict)
    evidence_kinds: dict[str, Registered] = field(default_factory=dict)
    policy_checks: dict[str, Registered] = field(default_factory=dict)
    model_runtimes: dict[str, Registered] = field(default_factory=dict)
    guards: dict[str, Registered] = field(default_factory=dict)
    guard_configs: dict[str, Registered] = field(default_factory=dict)
    serving_targets: dict[str, Registered] = field(default_factory=dict)
    data_engines: dict[str, Registered] = field(default_factory=dict)


#: What :meth:`PluginHost._require` says when ``key`` is not registered, per table: the
#: message (``{key}``: what was asked for, ``{have}``: what there is) and its detail field.
_MISSING: dict[str, tuple[str, str]] = {
    "model_runtimes": (
        'no model runtime for model kind "{key}" (runtimes for: {have}); '
        "is its plugin installed and allowed?",
        "kind",
    ),
    "data_engines": (
        'no data engine named "{key}" (available: {have}); is its plugin '
        '(lmops-ray offers "ray") installed and allowed?',
        "engine",
    ),
    "guard_configs": (
        'no plugin checks guard configurations of kind "{key}" (kinds: {have}); is its '
        'plugin (lmops-serve offers "GuardConfig") installed and allowed?',
        "kind",
    ),
    "serving_targets": (
        'no serving target named "{key}" (available: {have}); is its '
        'plugin (lmops-serve offers "local") installed and allowed?',
        "target",
    ),
}


class _Collected(Generic[T]):
    """An attribute of :class:`PluginHost` that is the table of the same name in its
    :meth:`~PluginHost.registrations` (collected on the first read)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, host: None, owner: type) -> _Collected[T]: ...

    @overload
    def __get__(self, host: PluginHost, owner: type | None = None) -> T: ...

    def __get__(self, host: PluginHost | None, owner: type | None = None) -> T | _Collected[T]:
        if host is None:
            return self
        table: T = getattr(host.registrations(), self.name)
        return table


@dataclass
class PluginHost:
    """The plugin manager plus what plugins registered through it.

    The ``register_*`` hooks are called once, by :func:`load_plugins` or on the
    first read of :attr:`operations`, :attr:`evidence_kinds` or :attr:`policy_checks`;
    a plugin that registers something invalid raises :class:`PluginError` there.
    """

    pm: pluggy.PluginManager
    plugins: list[PluginInfo] = field(default_factory=list)
    failures: list[PluginLoadFailure] = field(default_factory=list)
    _registrations: Registrations | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def registrations(self) -> Registrations:
        """What the plugins registered, collected on the first call."""
        with self._lock:
            if self._registrations is None:
                self._registrations = _collect_registrations(self)
            return self._registrations

    #: Operations by stage, then by name.
    operations = _Collected[dict[Stage, dict[str, Registered]]]()
    #: Declared evidence kinds by name.
    evidence_kinds = _Collected[dict[str, Registered]]()
    #: CEL functions plugins offer to policies, by name.
    policy_checks = _Collected[dict[str, Registered]]()
    #: Model runtimes by the model kind they open.
    model_runtimes = _Collected[dict[str, Registered]]()
    #: Text guards by name.
    guards = _Collected[dict[str, Registered]]()
    #: Guard configuration document kinds by ``kind``.
    guard_configs = _Collected[dict[str, Registered]]()
    #: Serving targets by name.
    serving_targets = _Collected[dict[str, Registered]]()
    #: Data engines by name.
    data_engines = _Collected[dict[str, Registered]]()

    def operation(self, stage: Stage, name: str) -> Registered:
        """The operation ``name`` offered for ``stage``, or an error listing what exists."""
        found = self.operations.get(stage, {}).get(name)
        if found is None:
            have = ", ".join(sorted(self.operations.get(stage, {}))) or "none installed"
            raise PluginError(
                f'no {stage.value.replace("_", " ")} operation named "{name}" '
                f"(available: {have}); is its plugin installed and allowed?",
                stage=stage.value,
                operation=name,
            )
        return found

    def evidence_kind(self, name: str) -> EvidenceKind | None:
        """The declaration of evidence kind ``name``, or ``None`` if no plugin declares it."""
        found = self.evidence_kinds.get(name)
        return found.value if found is not None else None

    def declared_kinds(self) -> dict[str, EvidenceKind]:
        """Every declared evidence kind by name."""
        return {name: reg.value for name, reg in self.evidence_kinds.items()}

    def metric_types(self) -> dict[str, dict[str, str]]:
        """``kind -> {metric: type}`` for every declared kind, as policy checks read it."""
        return {name: reg.value.metric_types() for name, reg in self.evidence_kinds.items()}

    def _require(self, table: str, key: str) -> Any:
        """What is registered under ``key`` in ``table``, else the error of :data:`_MISSING`
        (it lists what there is, and the plugins that failed to load)."""
        registered: dict[str, Registered] = getattr(self.registrations(), table)
        found = registered.get(key)
        if found is None:
            message, field_name = _MISSING[table]
            have = ", ".join(sorted(registered)) or "none installed"
            raise PluginError(
                message.format(key=key, have=have) + self._failed(), **{field_name: key}
            )
        return found.value

    def _failed(self) -> str:
        if not self.failures:
            return ""
        return "; plugins that failed to load: " + "; ".join(str(f) for f in self.failures)

    def find_model_runtime(self, kind: str) -> ModelRuntime | None:
        """The runtime that opens model ``kind``, or ``None`` when no plugin registers one."""
        found = self.model_runtimes.get(kind)
        return found.value if found is not None else None

    def model_runtime(self, kind: str) -> ModelRuntime:
        """The runtime that opens model ``kind``, or an error naming the kind and what exists."""
        runtime: ModelRuntime = self._require("model_runtimes", kind)
        return runtime

    def model_kinds(self) -> tuple[str, ...]:
        """Every kind a model version may have: the core's own, then those plugins open."""
        extra = sorted(set(self.model_runtimes) - set(CORE_MODEL_KINDS))
        return (*CORE_MODEL_KINDS, *extra)

    def check_model_kind(self, kind: str) -> str:
        """``kind`` when a version may have it, else a ValidationError listing the known kinds.

        The core's own kinds are known without asking the plugins (nothing is imported for
        them); any other kind is known once a plugin registers a model runtime for it.
        """
        if kind in CORE_MODEL_KINDS:
            return kind
        kinds = self.model_kinds()
        if kind not in kinds:
            raise ValidationError(
                f"unknown model kind {kind!r} (expected one of {', '.join(kinds)}); a plugin adds "
                f"a kind by registering a model runtime for it{self._failed()}",
                field="kind",
            )
        return kind

    def find_guard(self, name: str) -> Guard | None:
        """The guard ``name``, or ``None`` when no plugin offers it.

        Only absence gives ``None``: while any plugin failed to load (it might
        be the one offering the guard) this raises, so screening is never
        quietly switched off by a broken install.
        """
        found = self.guards.get(name)
        if found is not None:
            guard: Guard = found.value
            return guard
        if self.failures:
            raise PluginError(f'no guard named "{name}" is available{self._failed()}', guard=name)
        return None

    def data_engine(self, name: str | None = None) -> ChunkMapper:
        """The data engine ``name``, connected; ``None``: the one the settings configure
        (:meth:`data_engine_name`)."""
        engine: DataEngine = self._require("data_engines", self.data_engine_name(name))
        return engine.connect()

    def data_engine_name(self, name: str | None = None) -> str:
        """``name``, or with none the name of the engine the settings configure.

        With no name, the engine whose ``configured()`` is true runs (a cluster
        address in the environment); none configured means ``"local"``, and
        two configured at once is an error naming both rather than a guess.
        """
        if name is not None:
            return name
        chosen = sorted(key for key, reg in self.data_engines.items() if reg.value.configured())
        if len(chosen) > 1:
            raise ValidationError(
                f"several data engines are configured ({', '.join(chosen)}): name one "
                "with the step's engine parameter",
                param="engine",
            )
        return chosen[0] if chosen else "local"

    def guard_config_type(self, kind: str) -> GuardConfigType:
        """The type that checks and runs guard configurations of ``kind``, or an error."""
        found: GuardConfigType = self._require("guard_configs", kind)
        return found

    def serving_target(self, name: str) -> ServingTarget:
        """The serving target ``name``, or an error naming it and listing what exists."""
        target: ServingTarget = self._require("serving_targets", name)
        return target


_SEPARATORS = re.compile(r"[-_.]+")


def normalise_name(name: str) -> str:
    """A plugin name as allow and deny lists compare it (PEP 503: ``LMOPS_X.y`` -> ``lmops-x-y``)."""
    return _SEPARATORS.sub("-", name.strip()).lower()


def _module_names(module: str, dists: Mapping[str, list[str]]) -> set[str]:
    """Every name a module path answers to: each dotted prefix and the distributions shipping it."""
    parts = module.split(".")
    names = {".".join(parts[: i + 1]) for i in range(len(parts))}
    names.update(dists.get(parts[0], ()))
    return names


def _file_names(spec: str) -> set[str]:
    """A ``.py`` plugin answers to its path, its file name and its stem."""
    path = Path(spec)
    return {spec, path.name, path.stem}


def _is_allowed(names: set[str], settings: Settings) -> bool:
    """Whether a plugin known by any of ``names`` may be imported; every name is normalised."""
    mine = {normalise_name(n) for n in names if n}
    if mine & {normalise_name(n) for n in settings.plugins_deny}:
        return False
    if settings.plugins_allow is None:
        return True
    return bool(mine & {normalise_name(n) for n in settings.plugins_allow})


def _dist_of(ep: EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _load_file(path: Path) -> ModuleType:
    mod_name = f"lmops_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    return module


def _hooks_of(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(c.name for c in pm.get_hookcallers(plugin) or []))


_METADATA_SUFFIXES = (".dist-info", ".egg-info")
_installed: tuple[tuple[tuple[str, str, int], ...], Mapping[str, list[str]]] | None = None
_installed_lock = threading.Lock()


def _metadata_folders() -> tuple[tuple[str, str, int], ...]:
    """Every distribution's metadata folder on ``sys.path``: its place, name and inode."""
    found: list[tuple[str, str, int]] = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as listing:
                found.extend(
                    (entry, item.name, item.inode())
                    for item in listing
                    if item.name.endswith(_METADATA_SUFFIXES)
                )
        except OSError:  # a zip file, or a folder that is gone
            continue
    return tuple(sorted(found))


def installed_modules() -> Mapping[str, list[str]]:
    """``importlib.metadata.packages_distributions()``, read again only when a distribution
    was installed, removed or reinstalled on ``sys.path`` since the last read.

    Reading it parses every installed distribution's metadata and file list (about half a
    second of CPU with the ML plugins installed), and every store a process opens loads its
    plugins. Listing the ``.dist-info`` folders costs about a millisecond; an install,
    removal or reinstall adds, removes or recreates one (a new name or inode).
    """
    global _installed
    folders = _metadata_folders()
    with _installed_lock:
        if _installed is None or _installed[0] != folders:
            _installed = (folders, packages_distributions())
        return _installed[1]


def load_plugins(settings: Settings, *, registrations: bool = True) -> PluginHost:
    """Build a plugin manager with every allowed plugin loaded and registrations collected.

    With ``registrations=False`` the ``register_*`` hooks are called only when the
    host's operations, evidence kinds or policy checks are first read (and an
    invalid registration raises then): a command that never needs them, such as
    ``lmops --help``, does not import what each plugin's operations need.

    The offline switches are set first (only those the user has not set), before
    any plugin module is imported: a plugin may import an ML library at import time.
    """
    set_offline_defaults()
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    host = PluginHost(pm=pm)

    def _register(module: ModuleType, name: str, source: str, version: str | None) -> None:
        if pm.has_plugin(name) or pm.is_registered(module):
            return
        pm.register(module, name=name)
        host.plugins.append(
            PluginInfo(
                name=name,
                module=module.__name__,
                source=source,
                version=version,
                hooks=_hooks_of(pm, module),
            )
        )

    from lmops_core import __version__

    dists = installed_modules()  # top-level module -> distributions

    for mod_path in BUILTIN_PLUGINS:
        short = "lmops-core:" + mod_path.rsplit(".", 1)[-1]
        _register(importlib.import_module(mod_path), short, "builtin", __version__)

    if settings.load_entry_points:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist_name, dist_version = _dist_of(ep)
            display = dist_name or ep.name
            names = {ep.name, *_module_names(ep.module, dists)} | (
                {dist_name} if dist_name else set()
            )
            if not _is_allowed(names, settings):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - any import failure is reported, not fatal
                host.failures.append(PluginLoadFailure(display, _reason(exc)))
                continue
            _register(module, display, "entry point", dist_version)

    for spec in settings.plugins:
        path = Path(spec)
        name = path.stem if spec.endswith(".py") else spec
        names = _file_names(spec) if spec.endswith(".py") else _module_names(spec, dists)
        if not _is_allowed(names, settings):
            continue
        try:
            module = _load_file(path) if spec.endswith(".py") else importlib.import_module(spec)
        except Exception as exc:  # noqa: BLE001
            host.failures.append(PluginLoadFailure(name, _reason(exc)))
            continue
        _register(module, name, "LMOPS_PLUGINS", getattr(module, "__version__", None))

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(
            f"plugin {name!r} implements an unknown hook: {exc}", plugin=name
        ) from exc
    if registrations:
        host.registrations()
    return host


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, ImportError) else str(exc)


def _call_per_plugin(host: PluginHost, hook_name: str, sink: Callable[[str, Any], None]) -> None:
    caller = getattr(host.pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):  # pluggy order: last registered first
        plugin_name = impl.plugin_name

        def register(value: Any, _plugin: str = plugin_name) -> None:
            sink(_plugin, value)

        call_impl(impl, hook_name, register=register)


def call_impl(impl: pluggy.HookImpl, hook_name: str, **kwargs: Any) -> Any:
    """Call one implementation of ``hook_name`` with those of ``kwargs`` it asks for.

    Whatever it raises, except a :class:`PluginError`, becomes a ``PluginError`` naming
    the plugin and the hook, so one broken plugin is reported as that plugin's fault.
    """
    try:
        return impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
    except PluginError:
        raise
    except Exception as exc:  # noqa: BLE001 - name the plugin that broke
        plugin = impl.plugin_name
        raise PluginError(
            f'plugin "{plugin}" failed in {hook_name}: {_reason(exc)}', plugin=plugin
        ) from exc


def _collect_registrations(host: PluginHost) -> Registrations:
    found = Registrations()
    for stage, hook_name in STAGE_HOOKS.items():
        table: dict[str, Registered] = {}

        def add_op(
            plugin: str, op: Any, _table: dict[str, Registered] = table, _hook: str = hook_name
        ) -> None:
            if not isinstance(op, Operation) or not isinstance(getattr(op, "name", None), str):
                raise PluginError(
                    f'plugin "{plugin}" registered {op!r} in {_hook}: it is not '
                    "an Operation (needs name, description and run(context))",
                    plugin=plugin,
                )
            if op.name in _table:
                raise PluginError(
                    f'plugins "{_table[op.name].plugin}" and "{plugin}" both '
                    f'register an operation named "{op.name}" in {_hook}',
                    plugin=plugin,
                )
            _table[op.name] = Registered(plugin, op, describe(op, plugin=plugin, hook=_hook))

        _call_per_plugin(host, hook_name, add_op)
        found.operations[stage] = table

    def add_kind(plugin: str, kind: Any) -> None:
        _expect(plugin, kind, "an evidence kind", EvidenceKind, "lmops_core")
        prior = found.evidence_kinds.get(kind.name)
        if prior is not None and prior.plugin != plugin:
            raise PluginError(
                f'plugins "{prior.plugin}" and "{plugin}" both declare evidence kind "{kind.name}"',
                plugin=plugin,
            )
        found.evidence_kinds[kind.name] = Registered(plugin, kind)

    def add_check(plugin: str, check: Any) -> None:
        _expect(plugin, check, "a policy check", PolicyCheck, "lmops_core")
        if check.name in found.policy_checks:
            raise PluginError(f'policy check "{check.name}" is registered twice', plugin=plugin)
        found.policy_checks[check.name] = Registered(plugin, check)

    def named(
        table: dict[str, Registered], what: str, expected: type | Any, key: str
    ) -> Callable[[str, Any], None]:
        def add(plugin: str, value: Any) -> None:
            _expect(plugin, value, f"a {what}", expected, "lmops_core.runtimes")
            name = getattr(value, key)
            if not isinstance(name, str) or not name:
                raise PluginError(
                    f'plugin "{plugin}" registered a {what} without a {key}', plugin=plugin
                )
            prior = table.get(name)
            if prior is not None:
                raise PluginError(
                    f'plugins "{prior.plugin}" and "{plugin}" both register a '
                    f'{what} for {key} "{name}"',
                    plugin=plugin,
                )
            table[name] = Registered(plugin, value)

        return add

    _call_per_plugin(host, "register_evidence_kinds", add_kind)
    _call_per_plugin(host, "register_policy_checks", add_check)
    _call_per_plugin(
        host,
        "register_model_runtimes",
        named(found.model_runtimes, "model runtime", ModelRuntime, "kind"),
    )
    _call_per_plugin(host, "register_guards", named(found.guards, "guard", Guard, "name"))
    _call_per_plugin(
        host,
        "register_guard_configs",
        named(found.guard_configs, "guard configuration kind", GuardConfigType, "kind"),
    )
    _call_per_plugin(
        host, "register_data_engines", named(found.data_engines, "data engine", DataEngine, "name")
    )
    _call_per_plugin(
        host,
        "register_serving_targets",
        named(found.serving_targets, "serving target", ServingTarget, "name"),
    )
    _check_recorded_kinds(found)
    return found


def _expect(plugin: str, value: Any, what: str, expected: type, module: str) -> None:
    """A PluginError unless ``value``, which ``plugin`` registered as ``what``, is an ``expected``
    (named as ``module`` exports it)."""
    if not isinstance(value, expected):
        raise PluginError(
            f'plugin "{plugin}" registered {value!r} as {what}; '
            f"expected {module}.{expected.__name__}",
            plugin=plugin,
        )


def _check_recorded_kinds(found: Registrations) -> None:
    """An operation may only promise evidence kinds some plugin declares."""
    for stage, table in found.operations.items():
        for name, reg in table.items():
            assert reg.spec is not None
            for kind in reg.spec.evidence_kinds:
                if kind not in found.evidence_kinds:
                    raise PluginError(
                        f'plugin "{reg.plugin}" operation "{name}" ({stage.value}) records '
                        f'evidence kind "{kind}", which no plugin declares (declare it through '
                        "register_evidence_kinds)",
                        plugin=reg.plugin,
                    )


@functools.cache
def default_host() -> PluginHost:
    """The plugins installed here, loaded once per process with the current settings.

    For code that runs outside a workspace (a stage context built by hand, a
    bundle served without a store); registrations are collected on first use.
    """
    return load_plugins(get_settings(), registrations=False)
