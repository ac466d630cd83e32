"""The Optuna side of a sweep: where the study lives, its sampler, pruner and search space.

The study is kept in the registry's own database. Optuna versions its tables
with Alembic under the default ``alembic_version`` table, which lmops' schema
already uses, so the two cannot share one namespace: on PostgreSQL the study
tables live in their own schema (``lmops_optuna``) of the same database; on
SQLite, which has no schemas, in a sibling file of the registry
(``lmops.db`` -> ``lmops.optuna.db``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import make_url

from lmops_core.errors import ValidationError
from lmops_optuna.params import Dimension, SweepParams

SCHEMA = "lmops_optuna"
LIST_SEPARATOR = "+"


@functools.lru_cache(maxsize=8)
def study_storage(database_url: str) -> Any:
    """An Optuna ``RDBStorage`` beside the registry at ``database_url`` (see the module).

    Opened once per process and URL (creating its tables and checking their version
    costs about a second): later sweeps in the same process share it, as Optuna allows."""
    import optuna

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        if not db or db == ":memory:":
            raise ValidationError("a sweep needs a file or server database to keep its study")
        stem = db[: -len(".db")] if db.endswith(".db") else db
        target = url.set(database=f"{stem}.optuna.db")
        return optuna.storages.RDBStorage(
            target.render_as_string(hide_password=False),
            engine_kwargs={"creator": functools.partial(sqlite_connection, f"{stem}.optuna.db")},
        )
    if url.get_backend_name() == "postgresql":
        from sqlalchemy import create_engine, text

        pg = url.set(drivername="postgresql+psycopg")
        engine = create_engine(pg)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        engine.dispose()
        return optuna.storages.RDBStorage(
            pg.render_as_string(hide_password=False),
            engine_kwargs={"connect_args": {"options": f"-csearch_path={SCHEMA}"}},
        )
    raise ValidationError(
        f"a sweep keeps its study on SQLite or PostgreSQL, not {url.get_backend_name()}"
    )


def session_storage(database_url: str, *, defer_trials: bool = False) -> Any:
    """The storage one sweep session works on: its study read from memory, every write
    committed to :func:`study_storage` first; with ``defer_trials`` (one trial at a time),
    each trial it runs written once, whole, when it finishes (see
    :mod:`lmops_optuna.write_through`)."""
    from lmops_optuna.write_through import WriteThroughStorage

    return WriteThroughStorage(study_storage(database_url), defer_trials=defer_trials)


def sqlite_connection(path: str) -> sqlite3.Connection:
    """A connection to the study's SQLite file, set up as the registry's own database is.

    Write-ahead logging with ``synchronous=NORMAL``: a commit survives the process being
    killed (only a power loss may undo the last ones, and a lost trial is run again on
    resume) and costs no fsync of its own; Optuna commits several times per trial.
    Threads share it (``n_jobs``), so the pool may hand it to any of them.
    """
    conn = sqlite3.connect(path, timeout=60, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def describe_storage(database_url: str) -> str:
    """Where the study is, for evidence (no credentials)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite file beside the registry ({url.database}, suffix .optuna.db)"
    return f"{url.get_backend_name()} {url.host}/{url.database}, schema {SCHEMA}"


def default_study_name(params: SweepParams, inputs: Mapping[str, str], seed: int) -> str:
    """A name that is the same whenever the same sweep is run again (so it resumes)."""
    same = {
        "trainer": params.trainer,
        "space": {k: v.model_dump() for k, v in sorted(params.space.items())},
        "fixed": params.fixed,
        "objective": [params.objective, params.objective_metric, params.objective_params],
        "direction": params.direction,
        "sampler": params.sampler,
        "seed": seed,
        "inputs": dict(sorted(inputs.items())),
    }
    blob = json.dumps(same, sort_keys=True, default=str).encode()
    return f"sweep-{params.trainer}-{hashlib.sha256(blob).hexdigest()[:16]}"


def make_sampler(params: SweepParams, seed: int) -> Any:
    """The seeded Optuna sampler the parameters name."""
    import optuna

    if params.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if params.sampler == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if params.sampler == "grid":
        return optuna.samplers.GridSampler(grid(params.space), seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(params: SweepParams) -> Any:
    """The pruner: compares a trial's training loss at each step with earlier trials'."""
    import optuna

    if params.pruner == "none":
        return optuna.pruners.NopPruner()
    common = {
        "n_startup_trials": params.pruner_startup_trials,
        "n_warmup_steps": params.pruner_warmup_steps,
    }
    if params.pruner == "percentile":
        return optuna.pruners.PercentilePruner(25.0, **common)
    return optuna.pruners.MedianPruner(**common)


def encode_choice(value: Any) -> Any:
    """A categorical value as Optuna stores it: lists of names joined by ``+``."""
    return LIST_SEPARATOR.join(value) if isinstance(value, list) else value


def decode_choice(dim: Dimension, value: Any) -> Any:
    """The trainer parameter value of a stored categorical value."""
    for choice in dim.choices or ():
        if encode_choice(choice) == value:
            return list(choice) if isinstance(choice, list) else choice
    return value


def grid(space: Mapping[str, Dimension]) -> dict[str, list[Any]]:
    """The grid sampler's values: choices, or a range with a step."""
    out: dict[str, list[Any]] = {}
    for name, dim in space.items():
        if dim.type == "categorical":
            out[name] = [encode_choice(c) for c in dim.choices or ()]
            continue
        if dim.step is None:
            raise ValidationError(
                f"param space.{name}: the grid sampler needs a step for a {dim.type} range",
                field=f"space.{name}",
            )
        assert dim.low is not None and dim.high is not None
        count = int(round((dim.high - dim.low) / dim.step)) + 1
        values = [dim.low + i * dim.step for i in range(count)]
        out[name] = [int(v) for v in values] if dim.type == "int" else values
    return out


def suggest(trial: Any, space: Mapping[str, Dimension]) -> dict[str, Any]:
    """One trial's values of the searched parameters, as the trainer takes them."""
    values: dict[str, Any] = {}
    for name, dim in space.items():
        if dim.type == "categorical":
            raw = trial.suggest_categorical(name, [encode_choice(c) for c in dim.choices or ()])
            values[name] = decode_choice(dim, raw)
        elif dim.type == "int":
            assert dim.low is not None and dim.high is not None
            values[name] = trial.suggest_int(
                name, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log
            )
        else:
            assert dim.low is not None and dim.high is not None
            values[name] = trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)
    return values
