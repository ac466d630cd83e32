"""Migration 0006 on a store that a race already broke: duplicates resolved, fail closed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from lmops_core.governance.models import ApprovalRequest
from lmops_core.registry.db import normalize_url
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings, policy_ws, ws_as
from tests.governance.conftest import POLICY

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "lmops_core" / "migrations"


def _alembic(ws: Workspace, url: str, target: str, *, up: bool) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url))
    with ws.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.upgrade if up else command.downgrade)(cfg, target)


def test_upgrade_resolves_rows_left_by_races(tmp_path: Path, db_url: str) -> None:
    ws = policy_ws(tmp_path, POLICY, db_url, file="test.yaml", actor="observer")
    eng, val, risk = (
        ws_as(ws, u, r)
        for u, r in (("eng", "submitter"), ("val", "validator"), ("risk", "risk_officer"))
    )
    refs = []
    for i in range(3):
        v = eng.register_model("raced", make_model_folder(tmp_path / f"m{i}", bytes([i]) * 64))
        val.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9})
        refs.append(v.ref)
    promoted = eng.governance.request_promotion(refs[0], to="production")
    val.governance.decide(promoted.id, approve=True, role="validator", comment="ok")
    risk.governance.decide(promoted.id, approve=True, role="risk_officer", comment="ok")
    pending = eng.governance.request_promotion(refs[1], to="production")

    # Back to the schema before 0006 and reproduce what the races left behind.
    _alembic(ws, db_url, "0005", up=False)
    columns = ", ".join(
        c.name
        for c in ApprovalRequest.__table__.columns  # type: ignore[attr-defined]
        if c.name != "id"
    )
    with ws.db.engine.begin() as conn:
        for dup in ("d" * 32, "e" * 32):
            conn.execute(
                text(
                    f"INSERT INTO approval_requests (id, {columns}) "  # noqa: S608
                    f"SELECT :dup, {columns} FROM approval_requests WHERE id = :id"
                ),
                {"dup": dup, "id": pending.id},
            )
        # The later duplicate has an approval: it is the one kept.
        conn.execute(
            text(
                "INSERT INTO approval_decisions (request_id, actor, role, decision, "
                "comment, created_at) VALUES (:r, 'val', 'validator', 'approve', "
                "'ok', CURRENT_TIMESTAMP)"
            ),
            {"r": "e" * 32},
        )
        # A second version in production that never went through a promotion.
        conn.execute(text("UPDATE model_versions SET stage = 'production' WHERE version = 3"))
        for rid in ("t1", "t2"):
            conn.execute(
                text(
                    "INSERT INTO training_requests (id, ref, reason, status, "
                    "created_by, created_at) VALUES (:id, 'model:raced@1', 'drift', "
                    "'open', 'lmops-policy', CURRENT_TIMESTAMP)"
                ),
                {"id": rid},
            )
    _alembic(ws, db_url, "head", up=True)

    with ws.db.engine.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT id, status FROM approval_requests WHERE ref = :ref"), {"ref": refs[1]}
            ).all()
        )
        assert statuses == {pending.id: "invalidated", "d" * 32: "invalidated", "e" * 32: "pending"}
        reason = conn.execute(
            text("SELECT reason FROM approval_requests WHERE id = :id"), {"id": pending.id}
        ).scalar_one()
        assert f"request {'e' * 32} stays pending (migration 0006)" in reason
        holders = conn.execute(
            text("SELECT version, status FROM model_versions WHERE stage = 'production'")
        ).all()
        assert [tuple(h) for h in holders] == [(1, "active")]
        assert (
            conn.execute(text("SELECT status FROM model_versions WHERE version = 3")).scalar_one()
            == "revalidation-required"
        )
        assert dict(conn.execute(text("SELECT id, status FROM training_requests")).all()) == {
            "t1": "open",
            "t2": "superseded",
        }
        if ws.db.dialect == "postgresql":
            types = conn.execute(
                text(
                    "SELECT table_name, data_type FROM information_schema.columns "
                    "WHERE column_name = 'seq' AND table_name IN ('audit_events', 'audit_head')"
                )
            ).all()
            assert sorted(tuple(t) for t in types) == [
                ("audit_events", "bigint"),
                ("audit_head", "bigint"),
            ]
    ws.close()


def test_audit_sequence_holds_64_bit_values(tmp_path: Path, db_url: str) -> None:
    ws = Workspace.open(make_settings(tmp_path / "home", db_url))
    with ws.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, ts, actor, action, subject, before, "
                "after, prev_hash, hash) VALUES (:seq, 't', 'a', 'x', 's', 'null', "
                "'null', :h, :h)"
            ),
            {"seq": 2**40, "h": "0" * 64},
        )
    assert [e.seq for e in ws.audit_events(after_seq=2**40 - 1)] == [2**40]
    assert ws.audit_events(after_seq=2**62) == []
    ws.close()
