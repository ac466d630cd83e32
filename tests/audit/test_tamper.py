"""Edits, deletions, reorderings and truncations of audit rows are detected and located."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from lmops_core.audit.chain import GENESIS_HASH, sign_head, verify_rows
from lmops_core.workspace import Workspace
from tests.conftest import write_jsonl


@pytest.fixture
def busy_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}, {"text": "world"}])
    for name in ("a", "b", "c"):
        ref = ws.register_dataset(name, path, shape="text").ref
        ws.tag(ref, "k", name)
    assert ws.verify_audit().ok
    assert ws.verify_audit().events == 15
    return ws


def _sql(ws: Workspace, statement: str) -> None:
    with ws.db.engine.begin() as conn:
        conn.execute(text(statement))


def _assert_broken_at(ws: Workspace, seq: int, reason: str = "") -> str:
    """Verification fails, locating the damage at ``seq``, with ``reason`` in its message."""
    result = ws.verify_audit()
    assert not result.ok and result.first_bad_seq == seq, str(result)
    assert reason in result.reason
    return result.reason


def test_edit_is_detected_at_the_edited_event(busy_ws: Workspace) -> None:
    _sql(busy_ws, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 7")
    _assert_broken_at(busy_ws, 7, "content does not match its hash")


def test_edit_with_recomputed_hash_breaks_the_next_link(busy_ws: Workspace) -> None:
    from lmops_core.audit.chain import event_hash

    with busy_ws.db.engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT seq, ts, actor, action, subject, before, after, prev_hash "
                "FROM audit_events WHERE seq = 4"
            )
        ).one()
        forged = event_hash(
            row.prev_hash,
            row.seq,
            row.ts,
            "mallory",
            row.action,
            row.subject,
            row.before,
            row.after,
        )
        conn.execute(
            text("UPDATE audit_events SET actor='mallory', hash=:h WHERE seq=4"), {"h": forged}
        )
    _assert_broken_at(busy_ws, 5, "prev_hash does not match")


def test_deletion_is_detected(busy_ws: Workspace) -> None:
    _sql(busy_ws, "DELETE FROM audit_events WHERE seq = 9")
    _assert_broken_at(busy_ws, 9, "sequence jumps from 8 to 10")


def test_reordering_is_detected(busy_ws: Workspace) -> None:
    # Swap the content of events 5 and 6 while keeping their sequence numbers.
    with busy_ws.db.engine.begin() as conn:
        rows = {
            r.seq: r
            for r in conn.execute(
                text(
                    "SELECT seq, ts, actor, action, subject, before, after, prev_hash, hash "
                    "FROM audit_events WHERE seq IN (5, 6)"
                )
            )
        }
        for seq, other in ((5, 6), (6, 5)):
            o = rows[other]
            conn.execute(
                text(
                    "UPDATE audit_events SET ts=:ts, actor=:actor, action=:action, "
                    "subject=:subject, before=:before, after=:after, "
                    "prev_hash=:prev, hash=:hash WHERE seq=:seq"
                ),
                {
                    "ts": o.ts,
                    "actor": o.actor,
                    "action": o.action,
                    "subject": o.subject,
                    "before": o.before,
                    "after": o.after,
                    "prev": o.prev_hash,
                    "hash": o.hash,
                    "seq": seq,
                },
            )
    _assert_broken_at(busy_ws, 5)


def test_truncated_tail_is_detected(busy_ws: Workspace) -> None:
    _sql(busy_ws, "DELETE FROM audit_events WHERE seq > 12")
    _assert_broken_at(busy_ws, 13, "signed head records 15 events but 12 are present")


def test_truncation_with_rewound_head_needs_the_key(busy_ws: Workspace) -> None:
    with busy_ws.db.engine.begin() as conn:
        last = conn.execute(text("SELECT hash FROM audit_events WHERE seq = 12")).scalar_one()
        conn.execute(text("DELETE FROM audit_events WHERE seq > 12"))
        forged = sign_head(b"attacker-guess", 12, last)
        conn.execute(
            text("UPDATE audit_head SET seq=12, hash=:h, signature=:s"), {"h": last, "s": forged}
        )
    # The signed checkpoint written by the last verify (seq 15) locates the cut.
    reason = _assert_broken_at(busy_ws, 13, "signature is invalid")
    assert "the chain has 12 events but checkpoint seq 15" in reason


def test_empty_chain_verifies_but_a_missing_first_event_does_not() -> None:
    assert verify_rows([], (0, GENESIS_HASH, ""), b"k").ok
    head = (1, "ab" * 32, sign_head(b"k", 1, "ab" * 32))
    result = verify_rows([], head, b"k")
    assert not result.ok and result.first_bad_seq == 1
