"""Shared fixtures: a fresh store on SQLite or on a fresh PostgreSQL database."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lmops_core.offline import set_offline_defaults
from lmops_core.settings import Settings, get_settings
from lmops_core.testing.helpers import copy_migrated_store, migrate_store
from lmops_core.workspace import Workspace

if TYPE_CHECKING:
    from lmops_core.governance.schemas import ApprovalRequestPublic
    from lmops_core.terms import GovernedStage

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; tests that change the environment need a new read."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """A new, empty PostgreSQL database, dropped afterwards (``lmops_core.testing``'s)."""
    return postgres_url


def make_settings(home: Path, database_url: str | None = None, **extra: object) -> Settings:
    """Settings for a test store: no third-party entry points unless asked for."""
    values: dict[str, object] = {
        "home": home,
        "database_url": database_url,
        "actor": "alice",
        "load_entry_points": False,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def policy_dir(tmp_path: Path, policy: str, file: str = "policy.yaml") -> Path:
    """``tmp_path/policies``, holding ``policy`` as ``file``."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / file).write_text(policy)
    return policies


def policy_ws(
    tmp_path: Path,
    policy: str,
    database_url: str | None = None,
    *,
    file: str = "policy.yaml",
    **extra: object,
) -> Workspace:
    """A workspace under ``tmp_path/home`` governed by ``policy`` (see :func:`policy_dir`)."""
    policies = policy_dir(tmp_path, policy, file)
    return Workspace.open(
        make_settings(tmp_path / "home", database_url, policies_dir=policies, **extra)
    )


def write_plugin(tmp_path: Path, source: str, file: str) -> str:
    """Write the plugin module ``source`` to ``tmp_path/file``; its path, for ``plugins=``."""
    path = tmp_path / file
    path.write_text(source)
    return str(path)


def plugin_ws(tmp_path: Path, database_url: str | None, source: str, file: str) -> Workspace:
    """A workspace under ``tmp_path/home`` loading the plugin ``source`` (:func:`write_plugin`)."""
    plugins = [write_plugin(tmp_path, source, file)]
    return Workspace.open(make_settings(tmp_path / "home", database_url, plugins=plugins))


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store URL where nothing exists yet: a SQLite file under tmp_path, or a
    new, empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def _postgres_schema() -> Iterator[str]:
    """The name of a PostgreSQL database holding the newest schema and nothing else, made
    once per process (on first use) and dropped at the end."""
    from lmops_core.testing.postgres import fresh_postgres_database

    with fresh_postgres_database() as url:
        migrate_store(url)
        yield url.rsplit("/", 1)[1]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new metadata store whose schema is at the newest revision and which holds
    nothing else (no genesis, no admin): a SQLite file under tmp_path, or a PostgreSQL
    database, each copied from a template migrated once per process (running the migrations
    for every test cost about a second each). Tests of creating a store use
    :func:`empty_db_url`."""
    if request.param == "sqlite":
        yield f"sqlite:///{copy_migrated_store(tmp_path, 'meta.db')}"
        return
    from lmops_core.testing.postgres import fresh_postgres_database

    with fresh_postgres_database(template=request.getfixturevalue("_postgres_schema")) as url:
        yield url


@pytest.fixture
def ws(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    """A workspace on each metadata backend."""
    workspace = Workspace.open(make_settings(tmp_path / "home", db_url))
    yield workspace
    workspace.close()


@pytest.fixture
def sqlite_home(tmp_path: Path) -> Path:
    """``tmp_path/home``, its embedded store (``lmops.db``) already holding the newest schema
    and nothing else (copied, see :func:`db_url`)."""
    home = tmp_path / "home"
    copy_migrated_store(home)
    return home


@pytest.fixture
def sqlite_ws(sqlite_home: Path) -> Iterator[Workspace]:
    """A workspace on the embedded default only."""
    workspace = Workspace.open(make_settings(sqlite_home))
    yield workspace
    workspace.close()


def run_workers(worker: Callable[..., None], home: Path, db_url: str, processes: int) -> None:
    """Run ``worker(home, db_url, number, errors)`` in ``processes`` new processes at once
    and fail with whatever they put on the ``errors`` queue or a non-zero exit code.

    The processes are forked from a fresh server process (never from the test process, whose
    threads a fork would copy) that imported lmops and the worker's module once: each racing
    process starts in milliseconds instead of importing everything again (about two seconds
    of CPU each)."""
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["lmops_core.workspace", __name__, worker.__module__])
    errors = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(str(home), db_url, w, errors)) for w in range(processes)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    reported = []
    while not errors.empty():
        reported.append(errors.get())
    assert reported == []
    assert all(p.exitcode == 0 for p in procs)


def run_command(
    args: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    expect: int = 0,
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in ``cwd`` (with exactly ``env``, if given), its output captured as text;
    the test fails with that output unless the command exits ``expect``."""
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == expect, done.stdout + done.stderr
    return done


def run_python(
    code: str, *args: str, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -c code *args`` in a fresh interpreter with exactly ``env``; the test fails
    with the child's output unless it exits 0."""
    return run_command([sys.executable, "-c", code, *args], cwd=cwd, env=env, timeout=300)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def make_model_folder(path: Path, payload: bytes = b"\x00" * 64) -> Path:
    """A minimal model folder with a real safetensors file (header + one tensor)."""
    import struct

    path.mkdir(parents=True, exist_ok=True)
    header = json.dumps(
        {"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    ).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + payload)
    (path / "config.json").write_text('{"model_type": "test"}')
    return path


# -- acting with credentials -------------------------------------------------------------------
# Decisions need a credential. These helpers bootstrap one admin per store (the admin's token
# is remembered per database) and hand out workspaces acting with a real token of each user.

_ADMIN_TOKENS: dict[str, str] = {}
TEST_ADMIN = "test-admin"


def admin_ws(ws: Workspace) -> Workspace:
    """``ws`` acting as the store's bootstrapped admin (bootstrapped on first use)."""
    url = ws.settings.resolved_database_url
    token = _ADMIN_TOKENS.get(url)
    if token is None:
        token = ws.governance.bootstrap_admin(TEST_ADMIN)
        _ADMIN_TOKENS[url] = token
    return ws.with_token(token)


def grant(ws: Workspace, user: str, *roles: str) -> None:
    """Give ``user`` these roles, granted by the test admin."""
    admin = admin_ws(ws)
    for role in roles:
        admin.governance.grant_role(user, role)


def token_for(ws: Workspace, user: str, *roles: str) -> str:
    """A fresh bearer token for ``user`` (roles granted first), created by the test admin."""
    grant(ws, user, *roles)
    return admin_ws(ws).governance.create_token(user, description="test")


def ws_as(ws: Workspace, user: str, *roles: str) -> Workspace:
    """``ws`` acting as ``user`` through a real token of theirs, holding ``roles``."""
    if user == TEST_ADMIN:
        return admin_ws(ws)
    return ws.with_token(token_for(ws, user, *roles))


def request_as(
    ws: Workspace, user: str, ref: str, to: GovernedStage = "production"
) -> ApprovalRequestPublic:
    """``user``, through a real token of theirs, asks for ``ref`` to enter ``to``."""
    return ws_as(ws, user).governance.request_promotion(ref, to=to)


def decide_as(
    ws: Workspace, user: str, role: str, request_id: str, comment: str = "ok", approve: bool = True
) -> ApprovalRequestPublic:
    """``user``, through a real token of theirs, approves (or rejects) the request as ``role``."""
    return ws_as(ws, user).governance.decide(
        request_id, approve=approve, role=role, comment=comment
    )


def key_ws(ws: Workspace, user: str, key_dir: Path, *roles: str) -> Workspace:
    """``ws`` acting as ``user`` with a personal signing key registered by the test admin."""
    from lmops_core.governance.identity import public_pem, write_private_key

    grant(ws, user, *roles)
    path = key_dir / f"{user}-{uuid.uuid4().hex[:6]}.key"
    key = write_private_key(path)
    pub = path.with_name(path.name + ".pub")
    pub.write_text(public_pem(key.public_key()), encoding="ascii")
    admin = admin_ws(ws)
    if any(k.user == user and k.active for k in admin.signing_keys.list()):
        admin.signing_keys.rotate(pub, user=user)
    else:
        admin.signing_keys.register(user, pub)
    return ws.with_signing_key(path)


#: The people most governance tests need: an engineer who submits, a validator, a risk officer.
TEAM = (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer"))


def staffed(ws: Workspace, *more: tuple[str, str]) -> Workspace:
    """``ws`` acting as the test admin, with :data:`TEAM` (and ``more``) granted their roles."""
    admin = admin_ws(ws)
    for user, role in (*TEAM, *more):
        admin.governance.grant_role(user, role)
    return admin


def policy_yaml(name: str, *rules: str) -> str:
    """A policy file called ``name`` whose ``rules:`` list holds ``rules`` (YAML, any indent)."""
    body = textwrap.indent("\n".join(textwrap.dedent(r).strip("\n") for r in rules), "  ")
    return f"apiVersion: lmops/v1\nkind: Policy\nname: {name}\nrules:\n{body}\n"


#: Approval items of a rule: one approval by a validator, one by a risk officer.
VALIDATOR = {"role": "validator", "count": 1}
RISK_OFFICER = {"role": "risk_officer", "count": 1}


def model_rule(name: str, transition: str, event: str | None = None, **fields: object) -> str:
    """A policy rule (YAML) for models entering ``transition`` (on ``event``, if given): each
    of ``fields`` is a key of the rule, its value written as JSON, a YAML flow value."""
    applies_to = {"asset": "model", "transition": transition}
    if event is not None:
        applies_to["event"] = event
    lines = [f"- name: {name}", f"  applies_to: {json.dumps(applies_to)}"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines)


def drift_watch_rule(on_breach: list[object]) -> str:
    """A monitoring rule ``watch`` for models in production: ``drift`` evidence that shows no
    dataset drift, and ``on_breach`` (action names, or ``{retrain: {...}}``)."""
    return model_rule(
        "watch",
        "production",
        event="monitoring",
        evidence=[{"kind": "drift"}],
        conditions=[{"name": "no-drift", "expr": "!evidence.drift.metrics.dataset_drift"}],
        on_breach=on_breach,
    )


#: The condition of :func:`prod_policy`, as a YAML flow mapping.
ACCURACY = '{name: accuracy, expr: "evidence.eval.metrics.acc >= 0.5", message: accuracy below 0.5}'


def prod_policy(
    name: str,
    *,
    evidence: str = "{kind: eval, max_age: 30d}",
    conditions: tuple[str, ...] = (),
    more: tuple[str, ...] = (),
) -> str:
    """A policy file: production needs ``evidence`` (the items of a YAML flow list),
    :data:`ACCURACY` and ``conditions`` (YAML flow mappings), a validator and a risk officer,
    with separation of duties; ``more`` adds lines to the rule (``request_ttl: 7d``)."""
    lines = [
        "- name: prod",
        "  applies_to: {asset: model, transition: production}",
        f"  evidence: [{evidence}]",
        "  conditions:",
        *(f"    - {condition}" for condition in (ACCURACY, *conditions)),
        "  approvals:",
        "    - {role: validator, count: 1}",
        "    - {role: risk_officer, count: 1}",
        "  separation_of_duties: true",
        *(f"  {line}" for line in more),
    ]
    return policy_yaml(name, "\n".join(lines))


def staging_prod_policy(name: str) -> str:
    """A policy file: staging needs ``eval`` evidence; production also a validator and a
    risk officer, with separation of duties."""
    return policy_yaml(
        name,
        """
        - name: staging
          applies_to: {asset: model, transition: staging}
          evidence: [{kind: eval}]
          separation_of_duties: false
        - name: prod
          applies_to: {asset: model, transition: production}
          evidence: [{kind: eval}]
          approvals:
            - {role: validator, count: 1}
            - {role: risk_officer, count: 1}
          separation_of_duties: true
        - name: watch
          applies_to: {asset: model, transition: production, event: monitoring}
          evidence: [{kind: drift}]
          conditions:
            - {name: no-drift, expr: "!evidence.drift.metrics.dataset_drift", message: drift}
          on_breach: [revalidation-required]
    """,
    )


def breach_monitoring(ws: Workspace, ref: str) -> None:
    """Record drift on ``ref`` (in production) and let the policy's monitoring rule act on it:
    with :func:`staging_prod_policy` the version is marked revalidation-required and stays
    in its stage."""
    from lmops_core.governance.monitoring import check_monitoring

    ws.as_actor("monitor").attach_evidence(
        ref, kind="drift", digest=ws.get(ref).digest, metrics={"dataset_drift": True}
    )
    outcome = check_monitoring(ws, ref)
    assert outcome.breached and outcome.actions == ["revalidation-required"], outcome
