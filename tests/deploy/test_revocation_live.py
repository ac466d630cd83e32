"""Revocation is live for bundles, and eligibility does not depend on a listing's page size.

``load_bundle``, ``lmops bundle verify`` and the serving app refuse a bundle
whose version was revoked (or marked revalidation-required) after its approval
when the store answers; without a store, the signed ``valid_until`` decides.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lmops_core.cli import deploy_cmds
from lmops_core.deploy import KeyStore, check_deployable, create_bundle, load_bundle
from lmops_core.errors import IntegrityError, PolicyViolationError
from lmops_core.governance.models import ApprovalRequest
from lmops_core.registry.models import utcnow
from lmops_core.testing.helpers import copy_migrated_store
from lmops_core.workspace import Workspace
from tests.conftest import (
    breach_monitoring,
    make_settings,
    policy_ws,
    staffed,
    staging_prod_policy,
    ws_as,
)
from tests.deploy.helpers import approve_to_production, evaluated_model

POLICY = staging_prod_policy("live")


@pytest.fixture
def lws(tmp_path: Path, db_url: str) -> Workspace:
    admin = staffed(policy_ws(tmp_path, POLICY, db_url, file="live.yaml", actor="root"))
    KeyStore.for_home(admin.settings.home).create()
    return admin


def _bundle(ws: Workspace, ref: str, dest: Path, **kw: object) -> Path:
    return create_bundle(ws, ref, dest, stage="production", **kw).path  # type: ignore[arg-type]


def _shipped(ws: Workspace, tmp_path: Path, name: str = "b", **kw: object) -> tuple[str, Path]:
    """A model evaluated, approved into production and bundled as ``tmp_path/name``:
    (its ref, the bundle)."""
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    return ref, _bundle(ws, ref, tmp_path / name, **kw)


def _keys(ws: Workspace) -> dict[str, object]:
    return dict(KeyStore.for_home(ws.settings.home).public_keys())


def _load(
    ws: Workspace, path: Path, store: Workspace | None, tmp_path: Path, now: datetime | None = None
) -> object:
    return load_bundle(
        path,
        public_keys=_keys(ws),
        store=store,  # type: ignore[arg-type]
        workdir=tmp_path / f"out-{uuid.uuid4().hex[:6]}",
        now=now,
    )


# -- load_bundle -------------------------------------------------------------------------------


def test_revoked_bundle_is_refused_by_load_bundle(lws: Workspace, tmp_path: Path) -> None:
    ref, path = _shipped(lws, tmp_path)
    ok = _load(lws, path, lws, tmp_path)
    assert ok.standing.checked == "store"  # type: ignore[attr-defined]
    ws_as(lws, "risk").governance.revoke(ref, stage="production", reason="incident 7")
    out = tmp_path / "refused"
    with pytest.raises(PolicyViolationError, match=r"revoked at .*incident 7"):
        load_bundle(path, public_keys=_keys(lws), store=lws, workdir=out)  # type: ignore[arg-type]
    assert not out.exists()  # nothing of the refused bundle was written


def test_marked_version_bundle_is_refused(lws: Workspace, tmp_path: Path) -> None:
    ref, path = _shipped(lws, tmp_path)
    breach_monitoring(lws, ref)
    with pytest.raises(PolicyViolationError, match="revoked"):
        _load(lws, path, lws, tmp_path)


def test_old_bundle_stays_refused_after_revalidation_and_new_approval(
    lws: Workspace, tmp_path: Path
) -> None:
    ref, old = _shipped(lws, tmp_path, "old")
    ws_as(lws, "risk").governance.revoke(ref, stage="production", reason="incident")
    lws.as_actor("val").attach_evidence(
        ref, kind="eval", digest=lws.get(ref).digest, metrics={"acc": 1}
    )
    ws_as(lws, "val").governance.revalidate(ref, comment="re-evaluated")
    approve_to_production(lws, ref)
    with pytest.raises(PolicyViolationError, match="revoked"):
        _load(lws, old, lws, tmp_path)
    new = _bundle(lws, ref, tmp_path / "new")
    assert _load(lws, new, lws, tmp_path).standing.checked == "store"  # type: ignore[attr-defined]


def test_offline_the_validity_period_decides(lws: Workspace, tmp_path: Path) -> None:
    ref, path = _shipped(lws, tmp_path, valid_for=timedelta(days=2))
    now = datetime.now(UTC)
    ok = _load(lws, path, None, tmp_path, now=now)
    assert ok.standing.checked == "offline"  # type: ignore[attr-defined]
    with pytest.raises(PolicyViolationError, match="valid until .* store is not reachable"):
        _load(lws, path, None, tmp_path, now=now + timedelta(days=3))
    # With the store, an expired validity is re-checked live and the bundle stands again.
    live = _load(lws, path, lws, tmp_path, now=now + timedelta(days=3))
    assert live.standing.checked == "store"  # type: ignore[attr-defined]
    ws_as(lws, "risk").governance.revoke(ref, stage="production", reason="incident")
    with pytest.raises(PolicyViolationError, match="revoked"):
        _load(lws, path, lws, tmp_path, now=now)


def test_validity_cannot_be_extended_by_editing_the_manifest(
    lws: Workspace, tmp_path: Path
) -> None:
    _, path = _shipped(lws, tmp_path, valid_for=timedelta(hours=1))
    manifest = path / "manifest.json"
    body = manifest.read_text()
    until = body.split('"valid_until":"')[1].split('"')[0]
    manifest.write_text(body.replace(until, "2999-01-01T00:00:00+00:00"))
    with pytest.raises(IntegrityError, match="signature"):
        _load(lws, path, None, tmp_path)


def test_store_that_never_approved_the_bundle_does_not_vouch_for_it(
    lws: Workspace, tmp_path: Path, db_url: str
) -> None:
    _, path = _shipped(lws, tmp_path, valid_for=timedelta(hours=1))
    copy_migrated_store(tmp_path / "other-home")
    other = Workspace.open(make_settings(tmp_path / "other-home", actor="root"))
    later = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(PolicyViolationError, match="does not know its approval"):
        _load(lws, path, other, tmp_path, now=later)
    other.close()


# -- lmops bundle verify -----------------------------------------------------------------------


def test_bundle_verify_cli_refuses_a_revoked_bundle(
    lws: Workspace, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, path = _shipped(lws, tmp_path)
    monkeypatch.setenv("LMOPS_HOME", str(lws.settings.home))
    monkeypatch.setenv("LMOPS_DATABASE_URL", db_url)
    monkeypatch.setenv("LMOPS_POLICIES_DIR", str(tmp_path / "policies"))
    monkeypatch.setenv("LMOPS_LOAD_ENTRY_POINTS", "false")
    app = typer.Typer()
    deploy_cmds.register(app)
    run = CliRunner().invoke
    ok = run(app, ["bundle", "verify", str(path), "--json"])
    assert ok.exit_code == 0, ok.output
    assert '"checked": "store"' in ok.output
    ws_as(lws, "risk").governance.revoke(ref, stage="production", reason="incident 9")
    refused = run(app, ["bundle", "verify", str(path)])
    assert refused.exit_code != 0
    assert isinstance(refused.exception, PolicyViolationError)
    assert "revoked" in str(refused.exception) and "incident 9" in str(refused.exception)
    offline = run(app, ["bundle", "verify", str(path), "--offline", "--json"])
    assert offline.exit_code == 0 and '"checked": "offline"' in offline.output


# -- lmops serve-model -------------------------------------------------------------------------


def test_serving_refuses_a_revoked_bundle(lws: Workspace, tmp_path: Path) -> None:
    from lmops_serve.app import create_app

    ref, path = _shipped(lws, tmp_path)
    ws_as(lws, "risk").governance.revoke(ref, stage="production", reason="incident 11")
    with pytest.raises(PolicyViolationError, match="revoked"):
        create_app(path, public_keys=_keys(lws), store=lws)  # type: ignore[arg-type]


def test_serve_model_command_refuses_a_revoked_bundle(
    lws: Workspace, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmops_serve.cli import serve_model

    ref, path = _shipped(lws, tmp_path)
    ws_as(lws, "risk").governance.revoke(ref, stage="production", reason="incident 12")
    monkeypatch.setenv("LMOPS_HOME", str(lws.settings.home))
    monkeypatch.setenv("LMOPS_DATABASE_URL", db_url)
    monkeypatch.setenv("LMOPS_LOAD_ENTRY_POINTS", "false")
    app = typer.Typer()
    app.command("serve-model")(serve_model)
    app.command("noop")(lambda: None)  # keep serve-model a sub-command
    result = CliRunner().invoke(app, ["serve-model", str(path), "--port", "1"])
    assert isinstance(result.exception, PolicyViolationError), result.output
    assert "incident 12" in str(result.exception)


# -- eligibility is a query, not a page -----------------------------------------------------


def test_bundling_works_with_more_than_500_other_approvals(lws: Workspace, tmp_path: Path) -> None:
    ref = evaluated_model(lws, tmp_path)
    ws_as(lws, "eng").governance.request_promotion(ref, to="staging")
    start = utcnow() + timedelta(seconds=1)
    with lws.db.write() as s:  # 600 newer approvals of other versions, written cheaply
        s.add_all(
            [
                ApprovalRequest(
                    id=uuid.uuid4().hex,
                    asset_type="model",
                    version_id=10_000 + i,
                    ref=f"model:other-{i}@1",
                    target_stage="staging",
                    requested_by="eng",
                    status="approved",
                    created_at=start + timedelta(milliseconds=i),
                    decided_at=start + timedelta(milliseconds=i),
                    expires_at=start + timedelta(days=7),
                    version_digest="sha256:" + "ab" * 32,
                    snapshot_digest="sha256:" + "cd" * 32,
                )
                for i in range(600)
            ]
        )
    assert lws.governance.list_requests(status="approved", limit=500).total == 601
    version, approval = check_deployable(lws, ref, stage="staging")
    assert version.ref == ref and approval.target_stage == "staging"
    info = create_bundle(lws, ref, tmp_path / "b", stage="staging")
    assert _load(lws, info.path, lws, tmp_path).standing.checked == "store"  # type: ignore[attr-defined]


def test_revocation_while_serving_refuses_the_next_generation(
    lws: Workspace, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient
    from lmops_hf.base_model import create_base_model
    from lmops_serve.app import create_app

    v = ws_as(lws, "eng").register_model(
        "tiny-chat", create_base_model(tmp_path / "tiny", size="tiny")
    )
    lws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 1})
    approve_to_production(lws, v.ref)
    path = _bundle(lws, v.ref, tmp_path / "b")
    client = TestClient(
        create_app(
            path,
            public_keys=_keys(lws),
            guard_mode="off",  # type: ignore[arg-type]
            store=lws,
        )
    )
    body = {"prompt": "Hello", "max_new_tokens": 2}
    assert client.post("/v1/generate", json=body).status_code == 200
    ws_as(lws, "risk").governance.revoke(v.ref, stage="production", reason="pulled live")
    for url in ("/v1/generate", "/v1/generate?stream=true", "/v1/generate/stream"):
        refused = client.post(url, json=body)
        assert refused.status_code == 403, url
        assert "pulled live" in refused.json()["error"]["message"]
