"""Answers cached per store generation: reused while nothing changes, never stale."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from lmops_core.api.cache import (
    GenerationCache,
    GenerationReader,
    read_generation,
    read_generations,
)
from lmops_core.api.paths import PathScrubber
from lmops_core.workspace import Workspace
from tests.api.conftest import Env

LIST = "/api/v1/requests?status=pending&limit=50"


def test_cache_answers_only_for_its_generation() -> None:
    cache: GenerationCache[str] = GenerationCache(max_entries=2)
    assert cache.get(1, "a") is None
    cache.put(1, "a", "one")
    assert cache.get(1, "a") == "one"
    assert cache.get(2, "a") is None  # the store moved on: the answer is not reused
    cache.put(2, "b", "two")
    assert cache.get(1, "a") is None and len(cache) == 1  # older answers dropped
    cache.put(1, "a", "stale")  # a caller that read an older generation stores nothing
    assert cache.get(1, "a") is None and cache.get(2, "b") == "two"
    cache.put(2, "c", "three")
    cache.put(2, "d", "four")  # bounded: the least recently used goes
    assert len(cache) == 2 and cache.get(2, "b") is None


def test_generation_moves_with_every_audited_change(env: Env) -> None:
    before = read_generation(env.ws.db)
    env.as_user("root-admin").governance.grant_role("newcomer", "viewer")
    after_grant = read_generation(env.ws.db)
    assert after_grant > before
    env.as_user("root-admin").governance.revoke_role("newcomer", "viewer")
    assert read_generation(env.ws.db) > after_grant


def test_access_generation_moves_with_tokens_and_roles_only(env: Env) -> None:
    admin = env.as_user("root-admin").governance
    start = read_generations(env.ws.db)
    req = env.as_user("sub").governance.request_promotion(env.model(), to="production")
    env.as_user("val").governance.decide(req.id, approve=True, role="validator", comment="ok")
    after_writes = read_generations(env.ws.db)
    assert after_writes.store > start.store and after_writes.access == start.access
    moves = [start.access]
    token = admin.create_token("temp", role="viewer")  # a grant and a new token
    moves.append(read_generations(env.ws.db).access)
    admin.revoke_role("temp", "viewer")
    moves.append(read_generations(env.ws.db).access)
    admin.revoke_token(token.split("_")[1])
    moves.append(read_generations(env.ws.db).access)
    # Plain SQL moves it too (the triggers, not the service, keep the count).
    with env.ws.db.write() as s:
        s.execute(text("DELETE FROM user_roles WHERE \"user\" = 'view'"))
    moves.append(read_generations(env.ws.db).access)
    assert moves == sorted(set(moves)), moves  # strictly increasing


def test_principals_survive_decisions_but_not_a_revocation_from_elsewhere(env: Env) -> None:
    with TestClient(env.app) as client:
        principals = env.app.state.principals
        assert client.get(LIST, headers=env.auth("val")).status_code == 200
        missed = principals.misses
        for _ in range(2):  # each approval moves the store's generation
            req = client.post(
                "/api/v1/requests",
                json={"ref": env.model(), "to": "production"},
                headers=env.auth("sub"),
            ).json()
            approved = client.post(
                f"/api/v1/requests/{req['id']}/approve",
                headers=env.auth("val"),
                json={"role": "validator", "comment": "checked"},
            )
            assert approved.status_code == 200, approved.text
        assert client.get(LIST, headers=env.auth("val")).status_code == 200
        # The submitter's first call missed; the validator was never checked again.
        assert principals.misses == missed + 1
        # Revoked by plain SQL on the store (another process, a DBA): the next call fails.
        with env.ws.db.write() as s:
            s.execute(
                text("UPDATE api_tokens SET revoked_at = :now WHERE id = :id"),
                {"now": "2026-01-01 00:00:00", "id": env.tokens["val"].split("_")[1]},
            )
        assert client.get(LIST, headers=env.auth("val")).status_code == 401
        assert client.get(LIST, headers=env.auth("view")).status_code == 200


def test_list_is_reused_then_refreshed_after_a_write_from_another_process(env: Env) -> None:
    ref = env.model()
    with TestClient(env.app) as client:
        first = client.get(LIST, headers=env.auth("view"))
        again = client.get(LIST, headers=env.auth("val"))
        assert first.status_code == again.status_code == 200
        assert first.content == again.content and first.json()["total"] == 0
        assert env.app.state.answers.hits >= 1
        # A second workspace on the same store stands for a CLI or another worker.
        other = Workspace.open(env.ws.settings)
        try:
            req = other.with_token(env.tokens["sub"]).governance.request_promotion(
                ref, to="production"
            )
        finally:
            other.close()
        fresh = client.get(LIST, headers=env.auth("view")).json()
        assert fresh["total"] == 1 and fresh["items"][0]["id"] == req.id
        # The served body is the service's page, field for field (server paths relative).
        page = env.ws.governance.list_requests(status="pending", limit=50)
        assert fresh == PathScrubber.for_workspace(env.ws)(json.loads(page.model_dump_json()))
        assert str(env.policy_file) not in json.dumps(fresh)
        client.post(
            f"/api/v1/requests/{req.id}/approve",
            headers=env.auth("val"),
            json={"role": "validator", "comment": "checked"},
        )
        decided = client.get(LIST, headers=env.auth("view")).json()
        assert decided["items"][0]["approvals_so_far"] == {"validator": 1}
        inventory = client.get("/api/v1/inventory", headers=env.auth("view")).json()
        (version,) = inventory["items"][0]["versions"]
        assert [r["id"] for r in version["open_requests"]] == [req.id]


def test_revoked_token_and_role_take_effect_on_the_next_request(env: Env) -> None:
    admin = env.as_user("root-admin").governance
    token = admin.create_token("temp", role="viewer")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(env.app) as client:
        assert client.get(LIST, headers=headers).status_code == 200
        assert client.get(LIST, headers=headers).status_code == 200  # from the cache
        admin.revoke_role("temp", "viewer")
        assert client.get(LIST, headers=headers).status_code == 403
        admin.grant_role("temp", "viewer")
        assert client.get(LIST, headers=headers).status_code == 200
        token_id = token.split("_")[1]
        admin.revoke_token(token_id)
        assert client.get(LIST, headers=headers).status_code == 401
        # A wrong secret for a cached token id is refused too (the key is the whole token).
        forged = f"lmops_{token_id}_{'x' * 20}"
        assert client.get(LIST, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_concurrent_misses_compute_once_and_share_failures() -> None:
    cache: GenerationCache[str] = GenerationCache()
    calls: list[int] = []

    async def slow() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        return "page"

    async def failing() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise ValueError("store unavailable")

    async def scenario() -> None:
        results = await asyncio.gather(*(cache.get_or_compute(7, "k", slow) for _ in range(20)))
        assert results == ["page"] * 20 and len(calls) == 1
        outcomes = await asyncio.gather(
            *(cache.get_or_compute(7, "bad", failing) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, ValueError) for o in outcomes) and len(calls) == 2
        assert cache.get(7, "bad") is None  # a failure is never cached
        with pytest.raises(ValueError, match="unavailable"):
            await cache.get_or_compute(7, "bad", failing)
        assert len(calls) == 3

    asyncio.run(scenario())


def test_reader_shares_reads_but_never_returns_one_older_than_the_caller(env: Env) -> None:
    reader = GenerationReader(env.ws.db)
    admin = env.as_user("root-admin").governance

    async def scenario() -> None:
        values = await asyncio.gather(*(reader.read() for _ in range(30)))
        # PostgreSQL: 30 callers, one or two reads in a worker thread; SQLite reads each
        # caller's on the event loop (cheaper than the hop).
        shared = reader.reads <= 2 if not env.ws.db.is_sqlite else reader.reads == 30
        assert len(set(values)) == 1 and shared
        in_flight = asyncio.ensure_future(reader.read())
        await asyncio.sleep(0)  # its read has started
        await asyncio.to_thread(admin.grant_role, "late", "viewer")  # committed now
        after = await reader.read()  # asked after the commit: must see it
        assert after.store > values[0].store and after.access > values[0].access
        assert await in_flight >= values[0]

    asyncio.run(scenario())
