"""Attacks on the audit log by someone with raw database access (and, where said, more).

Each attack edits rows with plain SQL, recomputes the public SHA-256 chain
hashes where that helps the attacker (``event_hash`` needs no key), then lets
an ordinary write happen. The writer must refuse, name why and raise an alert;
``verify`` must name the first bad event or the missing checkpoint; and a new
key must never be generated for an existing log. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from lmops_core.audit.chain import GENESIS_HASH, event_hash, sign_head
from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.errors import AuditChainError, AuditRefusedError, ConfigurationError
from lmops_core.workspace import Workspace
from tests.conftest import make_settings, write_jsonl

EVENTS = 15


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}, {"text": "world"}])


def _fill(ws: Workspace, data: Path, names: tuple[str, ...] = ("a", "b", "c")) -> None:
    for name in names:
        ref = ws.register_dataset(name, data, shape="text").ref
        ws.tag(ref, "k", name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def busy_ws(home: Path, db_url: str, data: Path) -> Iterator[Workspace]:
    ws = Workspace.open(make_settings(home, db_url, audit_checkpoint_every=1000))
    _fill(ws, data)
    result = ws.verify_audit()
    assert result.ok and result.events == EVENTS, str(result)
    yield ws
    ws.close()


def _sql(ws: Workspace, statement: str, **params: object) -> None:
    with ws.db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _rechain(ws: Workspace, start: int) -> str:
    """Recompute every hash from ``start`` on, as an attacker can without the key."""
    with ws.db.engine.begin() as conn:
        prev = (
            conn.execute(
                text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": start - 1}
            ).scalar()
            or GENESIS_HASH
        )
        rows = conn.execute(
            text(
                "SELECT seq, ts, actor, action, subject, before, after "
                "FROM audit_events WHERE seq >= :s ORDER BY seq"
            ),
            {"s": start},
        ).all()
        for r in rows:
            digest = event_hash(prev, r.seq, r.ts, r.actor, r.action, r.subject, r.before, r.after)
            conn.execute(
                text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": digest, "s": r.seq},
            )
            prev = digest
    return prev


def _ordinary_write_is_refused(ws: Workspace, data: Path, why: str) -> None:
    before = _count(ws)
    with pytest.raises(AuditRefusedError) as info:
        ws.register_dataset("after-attack", data, shape="text")
    assert why in str(info.value)
    assert "Nothing was recorded" in str(info.value)
    assert _count(ws) == before
    alerts = (ws.settings.home / "alerts.jsonl").read_text().splitlines()
    assert json.loads(alerts[-1])["event"] == "audit.refused"
    # And from a process that opens the store afresh.
    with Workspace.open(ws.settings) as again, pytest.raises(AuditRefusedError):
        again.register_dataset("after-attack-2", data, shape="text")


def _count(ws: Workspace) -> int:
    with ws.db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())


def test_delete_last_events_rechain_and_write(busy_ws: Workspace, data: Path) -> None:
    _sql(busy_ws, "DELETE FROM audit_events WHERE seq > 12")
    last = _rechain(busy_ws, 1)
    # The attacker rewinds the head too, but cannot sign it.
    _sql(busy_ws, "UPDATE audit_head SET seq = 12, hash = :h", h=last)
    _ordinary_write_is_refused(busy_ws, data, "head's signature does not verify")
    result = busy_ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 13
    assert "the chain has 12 events but checkpoint seq 15" in result.reason


def test_delete_last_events_keeping_the_head_and_write(busy_ws: Workspace, data: Path) -> None:
    _sql(busy_ws, "DELETE FROM audit_events WHERE seq > 12")
    _ordinary_write_is_refused(
        busy_ws, data, "signed head records 15 events but the last event is 12"
    )
    result = busy_ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 13


def test_edit_event_rechain_and_write(busy_ws: Workspace, data: Path) -> None:
    _sql(busy_ws, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
    _rechain(busy_ws, 7)
    _ordinary_write_is_refused(busy_ws, data, "event 15's hash differs from the signed head")
    result = busy_ws.verify_audit()
    assert not result.ok
    # The checkpoints after the first commit (seq 4) and at 15 bound the rewrite.
    assert result.first_bad_seq == 5
    assert "history was rewritten somewhere in events 5 to 15" in result.reason


def test_edit_located_exactly_with_a_checkpoint_per_commit(
    home: Path, db_url: str, data: Path
) -> None:
    with Workspace.open(make_settings(home, db_url, audit_checkpoint_every=1)) as ws:
        _fill(ws, data)
        # Commits: 1-4 (register a), 5 (tag), 6-9, 10 (tag), 11-14, 15; one checkpoint each.
        _sql(ws, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 10")
        _rechain(ws, 10)
        result = ws.verify_audit()
        assert not result.ok and result.first_bad_seq == 10
        assert "the history was rewritten at event 10" in result.reason
        _sql(ws, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
        _rechain(ws, 7)
        result = ws.verify_audit()
        assert not result.ok and result.first_bad_seq == 6
        assert "somewhere in events 6 to 9" in result.reason


def test_forge_event_rechain_and_write(busy_ws: Workspace, data: Path) -> None:
    with busy_ws.db.engine.begin() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 15")).scalar_one()
        ts = "2026-01-01T00:00:00.000000+00:00"
        forged = event_hash(
            prev, 16, ts, "alice", "tag.set", "dataset:a@1", "null", '{"k":"forged"}'
        )
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, ts, actor, action, subject, before, "
                "after, prev_hash, hash) VALUES (16, :ts, 'alice', 'tag.set', "
                "'dataset:a@1', 'null', '{\"k\":\"forged\"}', :p, :h)"
            ),
            {"ts": ts, "p": prev, "h": forged},
        )
        conn.execute(text("UPDATE audit_head SET seq = 16, hash = :h"), {"h": forged})
    _ordinary_write_is_refused(busy_ws, data, "head's signature does not verify")
    result = busy_ws.verify_audit()
    assert not result.ok and "signature is invalid" in result.reason


def test_forged_event_after_an_intact_head_is_refused(busy_ws: Workspace, data: Path) -> None:
    with busy_ws.db.engine.begin() as conn:
        prev = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 15")).scalar_one()
        ts = "2026-01-01T00:00:00.000000+00:00"
        forged = event_hash(prev, 16, ts, "alice", "x", "y", "null", "null")
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, ts, actor, action, subject, before, "
                "after, prev_hash, hash) VALUES (16, :ts, 'alice', 'x', 'y', 'null', "
                "'null', :p, :h)"
            ),
            {"ts": ts, "p": prev, "h": forged},
        )
    _ordinary_write_is_refused(busy_ws, data, "last event is 16")
    result = busy_ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 16


def test_delete_all_events_and_reset_head_to_genesis(busy_ws: Workspace, data: Path) -> None:
    _sql(busy_ws, "DELETE FROM audit_events")
    _sql(busy_ws, "UPDATE audit_head SET seq = 0, hash = :h, signature = ''", h=GENESIS_HASH)
    _ordinary_write_is_refused(busy_ws, data, "head's signature does not verify")
    result = busy_ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 1
    assert "the chain has 0 events but checkpoint seq 15" in result.reason


def test_reset_to_a_replayed_genesis_signature_and_delete_genesis(
    busy_ws: Workspace, data: Path
) -> None:
    # The genesis head signature never changes, so an attacker may have kept it.
    replayed = sign_head(busy_ws._audit_key, 0, GENESIS_HASH)
    _sql(busy_ws, "DELETE FROM audit_events")
    _sql(
        busy_ws,
        "UPDATE audit_head SET seq = 0, hash = :h, signature = :s",
        h=GENESIS_HASH,
        s=replayed,
    )
    _ordinary_write_is_refused(
        busy_ws, data, "the chain has 0 events but a signed checkpoint recorded 15"
    )
    result = busy_ws.verify_audit()
    assert not result.ok and result.first_bad_seq == 1
    # Deleting the genesis record as well makes the store look new: still refused.
    _sql(busy_ws, "DELETE FROM audit_genesis")
    with Workspace.open(busy_ws.settings) as fresh:
        with pytest.raises(AuditRefusedError, match="keeps the genesis of store"):
            fresh.register_dataset("after-reset", data, shape="text")
        result = fresh.verify_audit()
        assert not result.ok and "audit log was deleted or reset" in result.reason
        assert "BROKEN at genesis" in str(result)


def test_delete_head_row(busy_ws: Workspace, data: Path) -> None:
    _sql(busy_ws, "DELETE FROM audit_head")
    _ordinary_write_is_refused(busy_ws, data, "head row (audit_head, id 1) is missing")
    result = busy_ws.verify_audit()
    assert not result.ok and "head row (audit_head, id 1) is missing" in result.reason
    assert "15 events are present" in result.reason


def test_delete_key_file_then_write(busy_ws: Workspace, data: Path) -> None:
    key_file = busy_ws.settings.home / "keys" / "audit.key"
    old = key_file.read_bytes()
    key_file.unlink()
    with pytest.raises(
        ConfigurationError,
        match="audit key file .* is missing but the store already has an audit log",
    ):
        Workspace.open(busy_ws.settings)
    assert not key_file.exists()  # no new key was made
    # A different key put in its place cannot extend the log either.
    key_file.write_text("f" * 64)
    with Workspace.open(busy_ws.settings) as other:
        with pytest.raises(
            AuditRefusedError, match="genesis record in the database does not verify"
        ):
            other.register_dataset("with-new-key", data, shape="text")
        assert not other.verify_audit().ok
    key_file.write_bytes(old)
    with Workspace.open(busy_ws.settings) as restored:
        assert restored.verify_audit().ok


def test_rollback_with_artifact_access_is_caught_by_an_auditors_checkpoint(
    busy_ws: Workspace, data: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "auditor" / "checkpoint.json"
    kept.parent.mkdir()
    kept.write_text(json.dumps(busy_ws.write_audit_checkpoint()))
    # The attacker holds a database snapshot taken at seq 12 (with its genuine signed head),
    # and can also write the artifact store: they roll both back.
    with busy_ws.db.engine.begin() as conn:
        h12 = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 12")).scalar_one()
    saved_head = sign_head(busy_ws._audit_key, 12, h12)  # = the row in their snapshot
    _sql(busy_ws, "DELETE FROM audit_events WHERE seq > 12")
    _sql(busy_ws, "UPDATE audit_head SET seq = 12, hash = :h, signature = :s", h=h12, s=saved_head)
    records = Path(busy_ws.artifacts.backend.root) / "records" / "audit"  # type: ignore[attr-defined]
    folder = next(p for p in records.iterdir() if p.is_dir() and p.name != "stores")
    for cp in (folder / "history").iterdir():
        if int(cp.name.split("-")[0]) > 12:
            cp.unlink()
    (folder / "latest.json").write_bytes(max((folder / "history").iterdir()).read_bytes())
    # Ordinary writes from a new process then extend the rolled-back chain.
    with Workspace.open(busy_ws.settings) as later:
        _fill(later, data, ("d",))
        assert later.verify_audit().ok  # everything the attacker controls agrees
        result = later.verify_audit(checkpoint=kept)
        assert not result.ok
        assert f"from {kept}" in result.reason
        assert "event 15's hash differs" in result.reason
        assert result.first_bad_seq == 5  # the checkpoint after the first commit matched
    cli = CliRunner().invoke(app, ["audit", "verify", "--checkpoint", str(kept)], env=_env(busy_ws))
    assert cli.exit_code == ExitCode.INTEGRITY, cli.output
    assert "BROKEN at event 5" in cli.output and "checkpoint seq 15" in cli.output


def test_an_external_sink_outlives_the_artifact_store(
    home: Path, db_url: str, data: Path, tmp_path: Path
) -> None:
    sink = tmp_path / "other-mount" / "checkpoints.jsonl"
    settings = make_settings(home, db_url, audit_checkpoint_sink=sink)
    with Workspace.open(settings) as ws:
        _fill(ws, data)
        assert ws.verify_audit().ok
        lines = [json.loads(line) for line in sink.read_text().splitlines()]
        assert lines[0]["format"] == "lmops.audit-genesis/1"
        assert max(line.get("seq", 0) for line in lines) == EVENTS
        with ws.db.engine.begin() as conn:
            h12 = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 12")).scalar_one()
        _sql(ws, "DELETE FROM audit_events WHERE seq > 12")
        _sql(
            ws,
            "UPDATE audit_head SET seq = 12, hash = :h, signature = :s",
            h=h12,
            s=sign_head(ws._audit_key, 12, h12),
        )
        shutil.rmtree(Path(ws.artifacts.backend.root) / "records")  # type: ignore[attr-defined]
    with Workspace.open(settings) as ws:
        result = ws.verify_audit()
        assert not result.ok and result.first_bad_seq == 13
        assert f"checkpoint sink {sink}" in result.reason


def test_forged_checkpoint_file_is_refused(busy_ws: Workspace, tmp_path: Path) -> None:
    value = busy_ws.write_audit_checkpoint()
    value["seq"] = 3
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(value))
    result = busy_ws.verify_audit(checkpoint=forged)
    assert not result.ok and "signature does not verify" in result.reason
    assert str(forged) in result.reason


def test_deleted_checkpoints_are_named(busy_ws: Workspace) -> None:
    shutil.rmtree(Path(busy_ws.artifacts.backend.root) / "records")  # type: ignore[attr-defined]
    result = busy_ws.verify_audit()
    assert not result.ok and "BROKEN at missing checkpoint" in str(result)
    assert "no checkpoint of store" in result.reason


def test_checkpoint_refused_on_a_broken_head(busy_ws: Workspace) -> None:
    _sql(busy_ws, "DELETE FROM audit_events WHERE seq = 15")
    with pytest.raises(AuditChainError, match="no checkpoint written"):
        busy_ws.write_audit_checkpoint()


def _env(ws: Workspace) -> dict[str, str]:
    return {
        "LMOPS_HOME": str(ws.settings.home),
        "LMOPS_DATABASE_URL": ws.db.url,
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_ACTOR": "auditor",
        "COLUMNS": "300",
    }


def test_cli_verify_names_the_checkpoint_used(busy_ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "cp.json"
    made = CliRunner().invoke(app, ["audit", "checkpoint", "--out", str(out)], env=_env(busy_ws))
    assert made.exit_code == 0, made.output
    assert json.loads(out.read_text())["seq"] == EVENTS
    result = CliRunner().invoke(app, ["audit", "verify"], env=_env(busy_ws))
    assert result.exit_code == 0, result.output
    assert f"{EVENTS} events" in result.output
    assert f"checked against checkpoint seq {EVENTS}" in result.output
    assert "artifact store" in result.output
    given = CliRunner().invoke(
        app, ["audit", "verify", "--checkpoint", str(out)], env=_env(busy_ws)
    )
    assert given.exit_code == 0, given.output
    assert f"from {out} (given)" in given.output.replace("\n", "")


@pytest.mark.parametrize("table", ["audit_genesis", "audit_events", "audit_head"])
def test_dropped_audit_table_gives_a_verdict(busy_ws: Workspace, data: Path, table: str) -> None:
    _sql(busy_ws, f"DROP TABLE {table}")
    with Workspace.open(busy_ws.settings, migrate=False) as after:
        with pytest.raises(AuditRefusedError, match="cannot be read"):  # or written
            after.register_dataset("after-drop", data, shape="text")
        result = after.verify_audit()
        assert not result.ok and "cannot be read" in result.reason


def test_a_store_from_before_genesis_records_is_adopted(busy_ws: Workspace, data: Path) -> None:
    # What a store upgraded from revision 0005 looks like: events, a signed head, no genesis
    # anywhere.
    _sql(busy_ws, "DELETE FROM audit_genesis")
    shutil.rmtree(Path(busy_ws.artifacts.backend.root) / "records")  # type: ignore[attr-defined]
    with Workspace.open(busy_ws.settings) as upgraded:
        upgraded.register_dataset("after-upgrade", data, shape="text")
        result = upgraded.verify_audit()
        assert result.ok and result.events == EVENTS + 4, str(result)
        with upgraded.db.engine.connect() as conn:
            assert (
                conn.execute(text("SELECT adopted_seq FROM audit_genesis")).scalar_one() == EVENTS
            )
