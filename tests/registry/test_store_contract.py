"""The metadata store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.digests import digest_bytes
from lmops_core.errors import AlreadyExistsError, IntegrityError, NotFoundError, ValidationError
from lmops_core.registry import store
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, write_jsonl


def _dataset(ws: Workspace, tmp_path: Path, name: str = "qa", n: int = 3) -> str:
    rows = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(n)]
    path = write_jsonl(tmp_path / f"{name}-{n}.jsonl", rows)
    return ws.register_dataset(name, path, shape="instruction").ref


def test_versions_are_numbered_per_asset(ws: Workspace, tmp_path: Path) -> None:
    assert _dataset(ws, tmp_path, "qa", 2) == "dataset:qa@1"
    assert _dataset(ws, tmp_path, "qa", 3) == "dataset:qa@2"
    assert _dataset(ws, tmp_path, "other", 2) == "dataset:other@1"
    m1 = ws.register_model("tiny", make_model_folder(tmp_path / "m1"))
    m2 = ws.register_model("tiny", make_model_folder(tmp_path / "m2", b"\x01" * 64), kind="merged")
    assert (m1.ref, m2.ref, m2.kind) == ("model:tiny@1", "model:tiny@2", "merged")
    assert [v.version for v in ws.list_versions("model", "tiny")] == [1, 2]


def test_normalised_names_cannot_coexist(ws: Workspace) -> None:
    with ws.db.write() as s:
        store.ensure_asset(
            s, ws.audit_writer, asset_type="model", name="my-model", must_create=True
        )
    with (
        pytest.raises(AlreadyExistsError, match="already exists as 'my-model'"),
        ws.db.write() as s,
    ):
        store.ensure_asset(
            s, ws.audit_writer, asset_type="model", name="my%2Dmodel", must_create=True
        )
    assert [a.name for a in ws.list_assets("model")] == ["my-model"]


def test_resolve_latest_alias_and_missing(ws: Workspace, tmp_path: Path) -> None:
    _dataset(ws, tmp_path, "qa", 2)
    _dataset(ws, tmp_path, "qa", 4)
    assert ws.get("dataset:qa").version == 2
    ws.set_alias("dataset:qa@1", "golden")
    assert ws.get("dataset:qa@golden").version == 1
    assert ws.get("dataset:QA@golden").aliases == ["golden"]
    with pytest.raises(NotFoundError, match="dataset version 'dataset:qa@9' does not exist"):
        ws.get("dataset:qa@9")
    with pytest.raises(NotFoundError, match="dataset 'nope' does not exist"):
        ws.get("dataset:nope@1")
    with pytest.raises(NotFoundError, match="has no alias 'silver'"):
        ws.get("dataset:qa@silver")


def test_stage_aliases_are_reserved(ws: Workspace, tmp_path: Path) -> None:
    ref = _dataset(ws, tmp_path)
    with pytest.raises(ValidationError, match="reserved: versions enter production only"):
        ws.set_alias(ref, "production")


def test_prompts_declare_their_variables(ws: Workspace) -> None:
    v = ws.create_prompt("greeting", "Hello {name}, about {topic}")
    assert (v.ref, v.variables) == ("prompt:greeting@1", ["name", "topic"])
    with pytest.raises(ValidationError, match=r"uses variables \['name'\] but declares \['nom'\]"):
        ws.create_prompt("greeting", "Hello {name}", variables=["nom"])


def test_search_by_name_tag_kind_and_metric(ws: Workspace, tmp_path: Path) -> None:
    a = ws.register_model("alpha-bot", make_model_folder(tmp_path / "a"))
    b = ws.register_model(
        "beta-bot", make_model_folder(tmp_path / "b", b"\x02" * 64), kind="merged"
    )
    ws.tag(a.ref, "team", "cards")
    ws.tag(b.ref, "team", "loans")
    ws.attach_evidence(a.ref, kind="eval", digest=a.digest, metrics={"acc": 0.7})
    ws.attach_evidence(b.ref, kind="eval", digest=b.digest, metrics={"acc": 0.4})
    assert [v.ref for v in ws.search("model", tags={"team": "cards"})] == [a.ref]
    assert [v.ref for v in ws.search("model", kind="merged")] == [b.ref]
    assert [v.ref for v in ws.search("model", name="*-bot")] == [b.ref, a.ref]
    assert [v.ref for v in ws.search("model", metrics=["eval.acc>=0.6"])] == [a.ref]
    assert [
        v.ref for v in ws.search("model", metrics=["eval.acc<0.6"], tags={"team": "loans"})
    ] == [b.ref]
    assert ws.search("model", stage="production") == []
    with pytest.raises(ValidationError, match="invalid metric filter 'acc is high'"):
        ws.search("model", metrics=["acc is high"])


def test_evidence_binds_to_the_exact_digest(ws: Workspace, tmp_path: Path) -> None:
    v = ws.register_model("tiny", make_model_folder(tmp_path / "m"))
    ev = ws.attach_evidence(
        v.ref,
        kind="validation",
        digest=v.digest,
        metrics={"passed": True},
        details={"report": "ok"},
    )
    assert ev.subject == "model:tiny@1" and ev.subject_digest == v.digest
    other = digest_bytes(b"different weights")
    with pytest.raises(IntegrityError, match="evidence attaches only to the exact content"):
        ws.attach_evidence(v.ref, kind="validation", digest=other, metrics={"passed": True})
    assert [e.kind for e in ws.evidence(v.ref)] == ["validation"]


def test_evidence_refuses_nan(ws: Workspace, tmp_path: Path) -> None:
    v = ws.register_model("tiny", make_model_folder(tmp_path / "m"))
    with pytest.raises(ValidationError, match="metrics is not valid JSON"):
        ws.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": float("nan")})


def test_lineage_edges_and_self_reference(ws: Workspace, tmp_path: Path) -> None:
    d = _dataset(ws, tmp_path)
    base = ws.register_model("tiny", make_model_folder(tmp_path / "m"))
    with ws.db.write() as s:
        _, drow = store.resolve(s, d)
        _, brow = store.resolve(s, base.ref)
        child = store.create_version(
            s,
            ws.audit_writer,
            asset_type="model",
            name="tiny",
            fields={
                "digest": digest_bytes(b"adapter"),
                "kind": "adapter",
                "size_bytes": 7,
                "meta": {},
            },
        )
        store.add_lineage(
            s, ws.audit_writer, child_type="model", child=child, parent_type="model", parent=brow
        )
        store.add_lineage(
            s, ws.audit_writer, child_type="model", child=child, parent_type="dataset", parent=drow
        )
        with pytest.raises(ValidationError, match="cannot be derived from itself"):
            store.add_lineage(
                s,
                ws.audit_writer,
                child_type="model",
                child=child,
                parent_type="model",
                parent=child,
            )
    up = ws.lineage("model:tiny@2")
    assert sorted(e.parent for e in up) == ["dataset:qa@1", "model:tiny@1"]
    down = ws.lineage("dataset:qa@1", direction="down")
    assert [e.child for e in down] == ["model:tiny@2"]


def test_every_change_is_audited_and_verifies(ws: Workspace, tmp_path: Path) -> None:
    ref = _dataset(ws, tmp_path)
    ws.tag(ref, "owner", "risk")
    actions = [e.action for e in ws.audit_events()]
    assert actions == [
        "dataset.create",
        "dataset_version.create",
        "evidence.attach",
        "evidence.attach",
        "tag.set",
    ]
    assert all(e.actor == "alice" for e in ws.audit_events())
    assert ws.verify_audit().ok


def test_failed_transaction_writes_neither_change_nor_audit(ws: Workspace) -> None:
    before = len(ws.audit_events())
    with pytest.raises(RuntimeError), ws.db.write() as s:
        store.create_version(
            s,
            ws.audit_writer,
            asset_type="model",
            name="ghost",
            fields={"digest": digest_bytes(b"x"), "kind": "base", "size_bytes": 1, "meta": {}},
        )
        raise RuntimeError("crash after the insert")
    assert len(ws.audit_events()) == before
    with pytest.raises(NotFoundError):
        ws.get("model:ghost@1")
    assert ws.verify_audit().ok


def test_bad_risk_tier_and_model_kind(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="invalid risk tier 'extreme'"):
        ws.register_model("tiny", make_model_folder(tmp_path / "m"), risk_tier="extreme")
    with pytest.raises(ValidationError, match="unknown model kind 'gguf'"):
        ws.register_model("tiny", make_model_folder(tmp_path / "m"), kind="gguf")


def test_tags_given_at_creation(ws: Workspace, tmp_path: Path) -> None:
    v = ws.register_model("tiny", make_model_folder(tmp_path / "m"), tags={"team": "cards"})
    assert v.tags == {"team": "cards"}
    assert [x.ref for x in ws.search("model", tags={"team": "cards"})] == [v.ref]
    created = ws.audit_events(action="model_version.create")[0]
    assert created.after["tags"] == {"team": "cards"}
    with pytest.raises(ValidationError, match="tag keys must be 1-128 characters"):
        ws.register_model("tiny", make_model_folder(tmp_path / "m"), tags={"": "x"})


def test_tags_read_in_a_session_include_its_unflushed_tags(ws: Workspace, tmp_path: Path) -> None:
    from lmops_core.governance.decisions import resolve_version
    from lmops_core.registry.models import VersionTag

    v = ws.register_model("tiny", make_model_folder(tmp_path / "m"), tags={"team": "cards"})
    with ws.db.write() as s:
        _, _, version = resolve_version(s, v.ref)
        s.add(VersionTag(subject_type="model", subject_id=version.id, key="tier", value="gold"))
        assert store.tags_of(s, "model", version.id) == {"team": "cards", "tier": "gold"}
        with s.no_autoflush:  # as the session's own reads: nothing flushed when it says not to
            s.add(VersionTag(subject_type="model", subject_id=version.id, key="late", value=""))
            assert store.tags_of(s, "model", version.id) == {"team": "cards", "tier": "gold"}
        s.rollback()
