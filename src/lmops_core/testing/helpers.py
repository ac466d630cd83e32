"""The plain functions and classes behind the fixtures of :mod:`lmops_core.testing`.

Test modules import these directly (``from lmops_core.testing import model_input``);
nothing here imports pytest or an ML library.
"""

from __future__ import annotations

import atexit
import itertools
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lmops_core.contracts import (
    AssetType,
    InputAsset,
    NullProgress,
    ProgressReporter,
    Stage,
    StageContext,
)
from lmops_core.errors import PluginError
from lmops_core.operations import describe, validate_params
from lmops_core.plugins import PluginHost, load_plugins
from lmops_core.registry.db import Database, migration_lock_path
from lmops_core.settings import Settings
from lmops_core.terms import UserRoleName
from lmops_core.workspace import Workspace

#: The digest given to inputs built by hand (they are not stored anywhere).
UNSTORED_DIGEST = "sha256:" + "0" * 64


def write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``records`` as canonical JSONL (UTF-8, one object per line); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSONL file."""
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def model_input(
    path: Path,
    kind: str = "base",
    role: str = "model",
    *,
    ref: str | None = None,
    digest: str = UNSTORED_DIGEST,
) -> InputAsset:
    """A model folder handed to an operation, as the core would materialise a version."""
    return InputAsset(
        role=role,
        ref=ref or f"test/{role}@1",
        asset_type="model",
        kind=kind,
        digest=digest,
        path=path,
    )


def dataset_input(
    path: Path,
    *,
    shape: str = "text",
    role: str = "dataset",
    ref: str | None = None,
    asset_type: AssetType = "dataset",
    digest: str = UNSTORED_DIGEST,
    metadata: dict[str, Any] | None = None,
) -> InputAsset:
    """A dataset file (of record ``shape``, with the version's ``metadata``) handed to an
    operation under ``role``."""
    return InputAsset(
        role=role,
        ref=ref or f"test/{role}@1",
        asset_type=asset_type,
        kind=shape,
        digest=digest,
        path=path,
        metadata=dict(metadata or {}),
    )


def plugin_host(*modules: str, entry_points: bool = False, home: Path | None = None) -> PluginHost:
    """A plugin host with the built-ins and ``modules`` (module paths or ``.py`` files) loaded.

    ``entry_points=True`` also loads every installed plugin, as ``lmops`` does.
    Registrations are collected at once, so a bad registration fails here.
    """
    settings = Settings(
        home=home or Path.cwd() / ".lmops-test-home",
        plugins=list(modules),
        load_entry_points=entry_points,
    )
    return load_plugins(settings, registrations=True)


def hooks_of(host: PluginHost, plugin: str) -> set[str]:
    """The names of the hooks ``plugin`` (its name as the host lists it) implements."""
    [info] = [p for p in host.plugins if p.name == plugin]
    return set(info.hooks)


def registered_by(host: PluginHost, plugin: str) -> dict[str, list[str]]:
    """What ``plugin`` registered through ``host``, by table: operations (``stage:name``),
    evidence kinds, policy checks, model runtimes (by kind), guards, guard configuration
    kinds, serving targets.

    Tables it registered nothing in are left out, so a test can compare the whole answer.
    """
    found = host.registrations()
    tables: dict[str, list[str]] = {
        "operations": sorted(
            f"{stage.value}:{name}"
            for stage, table in found.operations.items()
            for name, reg in table.items()
            if reg.plugin == plugin
        )
    }
    for table_name in (
        "evidence_kinds",
        "policy_checks",
        "model_runtimes",
        "guards",
        "guard_configs",
        "serving_targets",
    ):
        table = getattr(found, table_name)
        tables[table_name] = sorted(name for name, reg in table.items() if reg.plugin == plugin)
    return {name: names for name, names in tables.items() if names}


def find_operation(
    host: PluginHost, name: str, stage: Stage | str | None = None
) -> tuple[Stage, Any]:
    """The stage and object of the operation ``name`` some loaded plugin offers."""
    stages = [Stage(stage)] if stage is not None else list(Stage)
    for candidate in stages:
        found = host.operations.get(candidate, {}).get(name)
        if found is not None:
            return candidate, found.value
    raise PluginError(
        f'no loaded plugin offers an operation named "{name}"'
        + (f" for stage {Stage(stage).value}" if stage is not None else ""),
        operation=name,
    )


def listed_plugins(home: Path, **env: str) -> dict[str, dict[str, Any]]:
    """What ``lmops plugins --json`` lists, by plugin name (the CLI run in this process).

    ``env`` adds environment variables (``LMOPS_PLUGINS=...``); installed
    entry points are loaded as the command loads them.
    """
    from typer.testing import CliRunner

    from lmops_core.cli import app
    from lmops_core.settings import get_settings

    get_settings.cache_clear()  # the command reads its settings as a new process would
    try:
        result = CliRunner().invoke(
            app, ["plugins", "--json"], env={"LMOPS_HOME": str(home), **env}
        )
    finally:
        get_settings.cache_clear()
    if result.exit_code != 0:
        raise AssertionError(f"lmops plugins failed ({result.exit_code}): {result.output}")
    listing = json.loads(result.stdout)
    failures = listing["failures"]
    if failures:
        raise AssertionError(f"plugins failed to load: {failures}")
    return {p["name"]: p for p in listing["plugins"]}


class StageContexts:
    """Builds real stage contexts, each in a fresh working folder under ``root``.

    Parameters are checked against the operation's declared model exactly as
    the runner checks them (a bad one raises the core's ValidationError), and
    ``context.load_model`` finds runtimes in ``host``.
    """

    def __init__(self, root: Path, host: PluginHost) -> None:
        self.root = root
        self.host = host
        self._count = itertools.count(1)

    def __call__(
        self,
        operation: Any,
        inputs: Mapping[str, InputAsset] | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        stage: Stage | str | None = None,
        seed: int | None = 0,
        progress: ProgressReporter | None = None,
        actor: str = "tester",
        validate: bool = True,
        workdir: Path | None = None,
    ) -> StageContext:
        """A context for ``operation`` (an operation object, or the name of a loaded one).

        Each input is renamed to the role it is given under. ``validate=False``
        hands ``params`` over unchecked, for a test of the operation's own checks;
        ``workdir`` replaces the fresh working folder.
        """
        if isinstance(operation, str):
            found_stage, operation = find_operation(self.host, operation, stage)
            stage = stage or found_stage
        elif stage is None:
            stage = self._stage_of(operation)
        spec = describe(operation, plugin="test", hook="test")
        checked, options = (
            validate_params(spec, dict(params or {})) if validate else (dict(params or {}), None)
        )
        n = next(self._count)
        workdir = workdir or self.root / f"work{n}"
        workdir.mkdir(parents=True, exist_ok=True)
        return StageContext(
            stage=Stage(stage),
            operation=spec.name,
            params=checked,
            options=options,
            inputs={role: replace(asset, role=role) for role, asset in (inputs or {}).items()},
            workdir=workdir,
            actor=actor,
            run_id=f"run-{n}",
            seed=seed,
            progress=progress or NullProgress(),
            plugins=self.host,
        )

    def _stage_of(self, operation: Any) -> Stage:
        for stage, table in self.host.operations.items():
            if any(reg.value.name == operation.name for reg in table.values()):
                return stage
        raise PluginError(
            f'operation "{operation.name}" is not offered by a loaded plugin: pass stage=',
            operation=operation.name,
        )


class TinyModels:
    """Tiny model folders by kind, each built once by the runtime that opens the kind.

    The runtime's ``tiny`` builder writes it (lmops-hf builds the torch kinds,
    lmops-onnx exports the ONNX ones from the tiny base); no ML library is
    imported here.
    """

    def __init__(self, root: Path, host: PluginHost, seed: int = 0) -> None:
        self.root = root
        self.host = host
        self.seed = seed
        self._built: dict[str, Path] = {}

    def kinds(self) -> list[str]:
        """The model kinds whose runtime can build a tiny model."""
        return sorted(
            kind for kind, reg in self.host.model_runtimes.items() if reg.value.tiny is not None
        )

    def __call__(self, kind: str = "base") -> Path:
        """The tiny model folder of ``kind`` (built on first use)."""
        if kind in self._built:
            return self._built[kind]
        runtime = self.host.model_runtime(kind)
        if runtime.tiny is None:
            raise PluginError(
                f'the runtime for model kind "{kind}" ({runtime.engine}) cannot '
                f"build a tiny model; kinds that can: "
                f"{', '.join(self.kinds()) or 'none'}",
                kind=kind,
            )
        base = None if kind == "base" else self("base")
        folder = runtime.tiny(self.root / kind, seed=self.seed, base=base)
        self._built[kind] = Path(folder)
        return self._built[kind]


_schema_templates: dict[str, Path] = {}


def migrate_store(url: str) -> None:
    """Bring the store at ``url`` to the newest schema and close every connection to it (a
    PostgreSQL database used as a ``TEMPLATE`` must have none)."""
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()


def migrated_sqlite_store() -> Path:
    """A SQLite store file at the newest schema holding nothing else, migrated once per
    process (in a temporary folder removed at exit) and never opened again: copy it, never
    use it. Nothing in it is unique to a store; the audit key, the genesis entry and every
    id are written by :meth:`Workspace.open` and later, into the copy."""
    if "sqlite" not in _schema_templates:
        folder = Path(tempfile.mkdtemp(prefix="lmops-schema-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "lmops.db"
        migrate_store(f"sqlite:///{path}")
        _schema_templates["sqlite"] = path
    return _schema_templates["sqlite"]


def copy_migrated_store(home: Path, name: str = "lmops.db") -> Path:
    """``home/name`` (default: the embedded store of ``home``), a copy of
    :func:`migrated_sqlite_store`: what :meth:`Workspace.open` would create there, without
    running the migrations again (about a second each time). Refuses to overwrite a file."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / name
    if target.exists():
        raise FileExistsError(f"{target} exists: a migrated store is copied only into a new one")
    shutil.copyfile(migrated_sqlite_store(), target)
    migration_lock_path(target).touch()  # left by a migration, as in a store made by open
    return target


@dataclass
class Governed:
    """A workspace whose store has an admin, and users acting through real tokens.

    ``ws`` acts as the plain actor ``tester`` (no credential); :meth:`as_user`
    grants roles through the admin and returns a workspace acting with a real
    bearer token of that user.
    """

    ws: Workspace
    admin: Workspace
    _users: dict[str, Workspace] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        plugins: Sequence[str] = (),
        entry_points: bool = True,
        policies: Mapping[str, str] | None = None,
        admin: str = "test-admin",
        **settings: Any,
    ) -> Governed:
        """Open a fresh store under ``home`` with the given plugins and policy files."""
        policies_dir = None
        if policies is not None:
            policies_dir = home.parent / f"{home.name}-policies"
            policies_dir.mkdir(parents=True, exist_ok=True)
            for name, text in policies.items():
                (policies_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
        values: dict[str, Any] = {
            "home": home,
            "actor": "tester",
            "plugins": list(plugins),
            "load_entry_points": entry_points,
            "policies_dir": policies_dir,
            **settings,
        }
        store = Settings(**values)
        if store.database_url is None and not (store.home / "lmops.db").exists():
            copy_migrated_store(store.home)  # the embedded store, created as open would
        ws = Workspace.open(store)
        return cls(ws=ws, admin=ws.with_token(ws.governance.bootstrap_admin(admin)))

    def as_user(self, user: str, *roles: UserRoleName) -> Workspace:
        """``ws`` acting as ``user`` through a real token of theirs, holding ``roles``."""
        for role in roles:
            self.admin.governance.grant_role(user, role)
        if user not in self._users:
            token = self.admin.governance.create_token(user, description="test")
            self._users[user] = self.ws.with_token(token)
        return self._users[user]

    def close(self) -> None:
        """Close the store."""
        self.ws.close()


class RecordingProgress:
    """A progress reporter that remembers every call (a real reporter, for assertions)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, float | None]] = []
        self.advances: list[tuple[float, dict[str, Any]]] = []
        self.finished = 0

    def start(self, description: str, total: float | None = None) -> None:
        """Remember a start."""
        self.started.append((description, total))

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        """Remember an advance."""
        self.advances.append((amount, fields))

    def finish(self) -> None:
        """Count a finish."""
        self.finished += 1
