"""Nobody can act as someone else: each test is an attack that must fail, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from lmops_core.errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
)
from lmops_core.governance.identity import os_user, public_pem, write_private_key
from lmops_core.governance.models import SigningKey
from lmops_core.registry.models import utcnow
from lmops_core.workspace import Workspace
from tests.conftest import (
    TEST_ADMIN,
    VALIDATOR,
    admin_ws,
    grant,
    key_ws,
    make_model_folder,
    make_settings,
    model_rule,
    policy_ws,
    policy_yaml,
    token_for,
    ws_as,
)

POLICY = policy_yaml(
    "two-person",
    model_rule("prod", "production", approvals=[VALIDATOR], separation_of_duties=True),
)


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Workspace:
    """A store with a two-person rule, an admin, mallory (submitter) and bob (validator)."""
    ws = policy_ws(tmp_path, POLICY, db_url, file="p.yaml", actor="mallory")
    grant(ws, "mallory", "submitter")
    grant(ws, "bob", "validator")
    return ws


def _version(ws: Workspace, tmp_path: Path, seed: int = 1) -> str:
    return (
        ws_as(ws, "eng")
        .register_model("chat", make_model_folder(tmp_path / f"m{seed}", bytes([seed]) * 64))
        .ref
    )


def test_lmops_actor_bob_cannot_approve_as_bob(store: Workspace, tmp_path: Path) -> None:
    mallory = ws_as(store, "mallory")
    req = mallory.governance.request_promotion(_version(store, tmp_path), to="production")
    # LMOPS_ACTOR=bob is a setting like any other: a bare name.
    as_bob_env = Workspace.open(store.settings.model_copy(update={"actor": "bob"}))
    for fake in (as_bob_env, mallory.as_actor("bob"), store.as_actor("bob")):
        with pytest.raises(AuthenticationError, match="needs a credential of 'bob'"):
            fake.governance.decide(req.id, approve=True, role="validator", comment="lgtm")
    assert store.governance.get_request(req.id).status == "pending"
    assert store.governance.get_request(req.id).decisions == []


def test_request_as_someone_else_to_dodge_separation_of_duties(
    store: Workspace, tmp_path: Path
) -> None:
    grant(store, "mallory", "validator")
    grant(store, "bob", "submitter")
    with pytest.raises(AuthenticationError, match="needs a credential of 'bob'"):
        store.as_actor("bob").governance.request_promotion(
            _version(store, tmp_path), to="production"
        )


def test_minting_an_admin_token_by_claiming_to_be_the_admin(store: Workspace) -> None:
    claimed = Workspace.open(store.settings.model_copy(update={"actor": TEST_ADMIN}))
    for fake in (claimed, store.as_actor(TEST_ADMIN)):
        with pytest.raises(AuthenticationError, match=f"credential of '{TEST_ADMIN}'"):
            fake.governance.create_token("mallory", role="admin")
        with pytest.raises(AuthenticationError):
            fake.governance.grant_role("mallory", "admin")
        with pytest.raises(AuthenticationError):
            fake.signing_keys.revoke("bob")
    assert "admin" not in store.governance.roles_of("mallory")


def test_granting_oneself_a_role(store: Workspace) -> None:
    mallory = ws_as(store, "mallory")
    with pytest.raises(PermissionDeniedError, match="not an admin"):
        mallory.governance.grant_role("mallory", "validator")
    with pytest.raises(PermissionDeniedError, match="not an admin"):
        mallory.governance.create_token("bob")
    with pytest.raises(PermissionDeniedError, match="not an admin"):
        mallory.governance.revoke_role("bob", "validator")
    assert store.governance.roles_of("mallory") == {"submitter"}


def test_no_free_first_grant_and_bootstrap_once(tmp_path: Path, db_url: str) -> None:
    ws = Workspace.open(make_settings(tmp_path / "home", db_url, actor="mallory"))
    with pytest.raises(AuthenticationError):
        ws.governance.grant_role("mallory", "admin")
    me = ws.as_actor(os_user())
    if ws.db.is_sqlite:  # the OS user is verified here, but holds no role: still refused
        with pytest.raises(PermissionDeniedError, match="no admin yet.*init --admin"):
            me.governance.grant_role(os_user(), "admin")
    else:  # on a shared store the OS user is just a name
        with pytest.raises(AuthenticationError):
            me.governance.grant_role(os_user(), "admin")
    token = ws.governance.bootstrap_admin("carol")
    with pytest.raises(ConflictError, match="already has an admin"):
        ws.governance.bootstrap_admin("mallory")
    assert ws.with_token(token).identity.user == "carol"
    assert [e.subject for e in ws.audit_events(action="admin.bootstrap")] == ["user:carol"]


def test_a_token_cannot_be_relabelled(store: Workspace) -> None:
    token = token_for(store, "mallory")
    with pytest.raises(AuthenticationError, match="belongs to 'mallory', not to 'bob'"):
        Workspace.open(store.settings, actor="bob", token=token)
    # A token decides who acts; as_actor on top of it is only a name.
    with pytest.raises(AuthenticationError):
        store.with_token(token).as_actor("bob").governance.grant_role("x", "viewer")


def test_revoked_token_stops_deciding_at_once(store: Workspace, tmp_path: Path) -> None:
    req = ws_as(store, "mallory").governance.request_promotion(
        _version(store, tmp_path), to="production"
    )
    token = token_for(store, "bob")
    bob = store.with_token(token)
    admin_ws(store).governance.revoke_token(token.split("_")[1])
    with pytest.raises(AuthenticationError, match="revoked"):
        bob.governance.decide(req.id, approve=True, role="validator", comment="lgtm")
    with pytest.raises(AuthenticationError):
        store.with_token(token)


def test_os_user_only_on_the_embedded_store(store: Workspace) -> None:
    me = store.as_actor(os_user())
    assert me.identity.method == ("os-user" if store.db.is_sqlite else "asserted")
    grant(store, os_user(), "admin")
    if store.db.is_sqlite:
        me.governance.grant_role("dave", "viewer")
    else:
        with pytest.raises(AuthenticationError):
            me.governance.grant_role("dave", "viewer")


def test_personal_keys(store: Workspace, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    stray = keys / "stray.key"
    public = keys / "stray.pub"
    public.parent.mkdir()
    public.write_text(public_pem(write_private_key(stray).public_key()))
    with pytest.raises(AuthenticationError, match="not registered"):
        store.with_signing_key(stray)
    # Only an admin registers keys; a person with a token cannot register one for themself.
    with pytest.raises(PermissionDeniedError, match="only an admin"):
        ws_as(store, "mallory").signing_keys.register("mallory", public)
    with pytest.raises(PermissionDeniedError, match="current personal key"):
        ws_as(store, "mallory").signing_keys.rotate(public)
    bob = key_ws(store, "bob", keys)
    assert bob.identity.method == "personal-key" and bob.identity.user == "bob"
    with pytest.raises(ConflictError, match="already has an active key"):
        admin_ws(store).signing_keys.register("bob", public)
    # One active key per user, held by the database itself.
    row = {
        "fingerprint": "f" * 16,
        "user": "bob",
        "public_key": "x",
        "created_by": "x",
        "registration": "x",
        "registration_signature": "x",
        "registration_key": "x",
        "created_at": utcnow(),
    }
    from sqlalchemy.exc import IntegrityError as DbIntegrityError

    with pytest.raises(DbIntegrityError, match="(?i)unique"), store.db.write() as s:
        s.execute(insert(SigningKey).values(**row))
    # Bob rotates with his current key; the old key no longer authenticates.
    new = bob.signing_keys.rotate(public)
    assert new.user == "bob"
    with pytest.raises(AuthenticationError, match="revoked"):
        bob.governance.decide("nothing", approve=True, role="validator", comment="x")
    bob2 = store.with_signing_key(stray)
    bob2.signing_keys.revoke("bob")
    with pytest.raises(AuthenticationError):
        store.with_signing_key(stray)
    audit = [e.action for e in store.audit_events(subject="user:bob")]
    assert {"signing_key.register", "signing_key.rotate", "signing_key.revoke"} <= set(audit)


def test_revocation_needs_a_credential(store: Workspace, tmp_path: Path) -> None:
    req = ws_as(store, "mallory").governance.request_promotion(
        _version(store, tmp_path), to="production"
    )
    ws_as(store, "bob").governance.decide(req.id, approve=True, role="validator", comment="ok")
    ref = store.governance.get_request(req.id).ref
    with pytest.raises(AuthenticationError):
        store.as_actor("bob").governance.revoke(ref, stage="production", reason="incident")
    assert store.get(ref).stage == "production"


def test_a_token_id_or_a_public_key_fingerprint_is_not_a_credential(
    store: Workspace, tmp_path: Path
) -> None:
    from lmops_core.governance.identity import Identity
    from lmops_core.governance.schemas import Principal

    admin = admin_ws(store)
    token_id = admin.identity.token_id or ""  # token ids are listed and audited: not secret
    forged = Principal(user=TEST_ADMIN, roles=frozenset({"admin"}), token_id=token_id)
    with pytest.raises(AuthenticationError, match="through the token"):
        store.as_principal(forged)
    with pytest.raises(AuthenticationError, match="not presented"):
        store._with(
            Identity(user=TEST_ADMIN, method="token", token_id=token_id)
        ).governance.grant_role("mallory", "admin")
    bob = key_ws(store, "bob", tmp_path / "keys")
    mine = write_private_key(tmp_path / "mine.key")
    posing = Identity(
        user="bob",
        method="personal-key",
        key_fingerprint=bob.identity.key_fingerprint,
        private_key=mine,
    )
    with pytest.raises(AuthenticationError, match="not the registered key"):
        store._with(posing).governance.decide("any", approve=True, role="validator", comment="x")
    assert "admin" not in store.governance.roles_of("mallory")
