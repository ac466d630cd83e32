"""Attacks on the SDK's arguments: NUL bytes, lone surrogates, overlong text and
out-of-range numbers are a ValidationError naming the field, never a database
traceback, on SQLite and PostgreSQL alike; and nothing of the attempt is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lmops_core.errors import ValidationError
from lmops_core.validation import checked_public
from lmops_core.workspace import Workspace
from tests.conftest import admin_ws, make_model_folder, write_jsonl

Attack = Callable[[Workspace, str, Path], Any]
NUL = "a\x00b"
SURROGATE = "a\ud800b"
BIG = 2**63
NAN = float("nan")


def _model(name: str = "m2", **fields: Any) -> Attack:
    """Register a model called ``name`` with ``fields``."""
    return lambda ws, ref, tmp: ws.register_model(name, make_model_folder(tmp / "m2"), **fields)


def _evidence(**fields: Any) -> Attack:
    """Attach eval evidence (no metrics unless ``fields`` has some) to the version under attack."""
    fields.setdefault("metrics", {})
    return lambda ws, ref, tmp: ws.attach_evidence(
        ref, kind="eval", digest=ws.get(ref).digest, **fields
    )


#: (case id, the call, the field the error must name)
ATTACKS: list[tuple[str, Attack, str]] = [
    ("model name NUL", _model(name=NUL), "name"),
    ("model description NUL", _model(description=NUL), "description"),
    ("model description surrogate", _model(description=SURROGATE), "description"),
    ("model description too long", _model(description="x" * 4001), "description"),
    ("model meta value NUL", _model(meta={"owner": {"team": NUL}}), "meta.owner.team"),
    ("model meta key NUL", _model(meta={NUL: 1}), "meta"),
    ("model meta NaN", _model(meta={"score": NAN}), "meta.score"),
    ("model meta int too big", _model(meta={"n": BIG}), "meta.n"),
    ("model meta list NUL", _model(meta={"l": ["ok", NUL]}), "meta.l[1]"),
    ("model tags NUL", _model(tags={"k": NUL}), "tags.k"),
    (
        "dataset description NUL",
        lambda ws, ref, tmp: ws.register_dataset(
            "d", write_jsonl(tmp / "d.jsonl", [{"text": "x"}]), shape="text", description=NUL
        ),
        "description",
    ),
    (
        "dataset path NUL",
        lambda ws, ref, tmp: ws.register_dataset("d", str(tmp / NUL), shape="text"),
        "path",
    ),
    ("prompt template NUL", lambda ws, ref, tmp: ws.create_prompt("p", NUL), "template"),
    (
        "prompt variables NUL",
        lambda ws, ref, tmp: ws.create_prompt("p", "{x}", variables=[NUL]),
        "variables[0]",
    ),
    ("get ref NUL", lambda ws, ref, tmp: ws.get(ref + NUL), "ref"),
    ("tag key NUL", lambda ws, ref, tmp: ws.tag(ref, NUL, "v"), "key"),
    ("tag value NUL", lambda ws, ref, tmp: ws.tag(ref, "k", NUL), "value"),
    ("tag value too long", lambda ws, ref, tmp: ws.tag(ref, "k", "v" * 513), "value"),
    ("alias NUL", lambda ws, ref, tmp: ws.set_alias(ref, NUL), "alias"),
    ("evidence kind NUL", lambda ws, ref, tmp: ws.evidence(ref, kind=NUL), "kind"),
    ("attach metrics key NUL", _evidence(metrics={NUL: 1.0}), "metrics"),
    ("attach details NUL", _evidence(details={"d": [NUL]}), "details.d[0]"),
    ("attach metric too big", _evidence(metrics={"n": -BIG - 1}), "metrics.n"),
    ("attach stage too long", _evidence(stage="s" * 33), "stage"),
    ("search name NUL", lambda ws, ref, tmp: ws.search("model", name=NUL), "name"),
    ("search limit negative", lambda ws, ref, tmp: ws.search("model", limit=-1), "limit"),
    ("search offset 2**63", lambda ws, ref, tmp: ws.search("model", offset=BIG), "offset"),
    ("runs limit -1", lambda ws, ref, tmp: ws.runs(limit=-1), "limit"),
    ("runs limit 2**63", lambda ws, ref, tmp: ws.runs(limit=BIG), "limit"),
    ("runs stage NUL", lambda ws, ref, tmp: ws.runs(stage=NUL), "stage"),
    ("run id NUL", lambda ws, ref, tmp: ws.run(NUL), "run_id"),
    ("audit after 2**63", lambda ws, ref, tmp: ws.audit_events(after_seq=BIG), "after_seq"),
    ("audit after -1", lambda ws, ref, tmp: ws.audit_events(after_seq=-1), "after_seq"),
    ("audit subject NUL", lambda ws, ref, tmp: ws.audit_events(subject=NUL), "subject"),
    ("lineage depth negative", lambda ws, ref, tmp: ws.lineage(ref, depth=-1), "depth"),
    (
        "run_stage params NUL",
        lambda ws, ref, tmp: ws.run_stage(
            "data_preparation",
            "dedup-exact",
            inputs={"dataset": "dataset:x@1"},
            params={"deep": [{"k": NUL}]},
        ),
        "params.deep[0].k",
    ),
    (
        "run_stage seed 2**63",
        lambda ws, ref, tmp: ws.run_stage(
            "data_preparation", "dedup-exact", inputs={"dataset": "dataset:x@1"}, seed=BIG
        ),
        "seed",
    ),
    ("as_actor NUL", lambda ws, ref, tmp: ws.as_actor(NUL), "actor"),
    ("grant user NUL", lambda ws, ref, tmp: ws.governance.grant_role(NUL, "viewer"), "user"),
    (
        "grant user too long",
        lambda ws, ref, tmp: ws.governance.grant_role("u" * 129, "viewer"),
        "user",
    ),
    ("revoke role NUL", lambda ws, ref, tmp: ws.governance.revoke_role("u", NUL), "role"),
    (
        "token description NUL",
        lambda ws, ref, tmp: ws.governance.create_token("u", description=NUL),
        "description",
    ),
    (
        "token description too long",
        lambda ws, ref, tmp: ws.governance.create_token("u", description="d" * 257),
        "description",
    ),
    ("revoke token NUL", lambda ws, ref, tmp: ws.governance.revoke_token(NUL), "token_id"),
    ("authenticate NUL", lambda ws, ref, tmp: ws.governance.authenticate("lmops_a\x00_b"), "token"),
    ("get request NUL", lambda ws, ref, tmp: ws.governance.get_request(NUL), "request_id"),
    (
        "request promotion ref NUL",
        lambda ws, ref, tmp: ws.governance.request_promotion(ref + NUL, to="staging"),
        "ref",
    ),
    (
        "decide comment NUL",
        lambda ws, ref, tmp: ws.governance.decide("r", approve=True, role="validator", comment=NUL),
        "comment",
    ),
    (
        "decide comment surrogate",
        lambda ws, ref, tmp: ws.governance.decide(
            "r", approve=True, role="validator", comment=SURROGATE
        ),
        "comment",
    ),
    (
        "revoke reason NUL",
        lambda ws, ref, tmp: ws.governance.revoke(ref, stage="staging", reason=NUL),
        "reason",
    ),
    (
        "list requests offset 2**63",
        lambda ws, ref, tmp: ws.governance.list_requests(offset=BIG),
        "offset",
    ),
    (
        "list requests offset -1",
        lambda ws, ref, tmp: ws.governance.list_requests(offset=-1),
        "offset",
    ),
    (
        "list requests status NUL",
        lambda ws, ref, tmp: ws.governance.list_requests(status=NUL),
        "status",
    ),
    (
        "pending_by_ref refs NUL",
        lambda ws, ref, tmp: ws.governance.pending_by_ref("model", [ref, NUL]),
        "refs[1]",
    ),
    ("explain to NUL", lambda ws, ref, tmp: ws.governance.explain(ref, to=NUL), "to"),
    (
        "export option stratify NUL",
        lambda ws, ref, tmp: ws.annotation.export_tasks(
            ref, tmp / "t.json", kind="labels", stratify=NUL
        ),
        "stratify",
    ),
]


@pytest.mark.parametrize(
    ("attack", "field"), [(a, f) for _, a, f in ATTACKS], ids=[case for case, _, _ in ATTACKS]
)
def test_bad_arguments_are_validation_errors_naming_the_field(
    ws: Workspace, tmp_path: Path, attack: Attack, field: str
) -> None:
    ws = admin_ws(ws)  # acting with a real admin token: only the bad argument can refuse
    ref = ws.register_model("m", make_model_folder(tmp_path / "model")).ref
    events = len(ws.audit_events(limit=1000))
    with pytest.raises(ValidationError) as err:
        attack(ws, ref, tmp_path)
    assert err.value.details.get("field") == field, err.value.message
    assert "\x00" not in err.value.message
    # Nothing of the attempt was stored, and the store still works.
    assert len(ws.audit_events(limit=1000)) == events
    assert ws.get(ref).ref == ref and ws.verify_audit().ok


def test_values_at_the_edge_of_the_range_are_accepted(ws: Workspace, tmp_path: Path) -> None:
    v = ws.register_model(
        "edge",
        make_model_folder(tmp_path / "m"),
        description="x" * 4000,
        meta={"n": 2**63 - 1, "neg": -(2**63), "f": 1e308, "ok": "ü✓"},
        tags={"k": "v" * 512},
    )
    assert ws.get(v.ref).meta["n"] == 2**63 - 1
    assert ws.runs(limit=2**63 - 1) == []
    assert ws.search("model", offset=2**63 - 1) == []
    assert ws.governance.list_requests(offset=2**63 - 1).items == []


def test_every_public_method_of_the_sdk_is_checked() -> None:
    from lmops_core.governance.decisions import GovernancePart
    from lmops_core.governance.workflow import Governance

    # Inherited methods count too (Governance takes its request views from RequestViews).
    # GovernancePart is left out: the parts share it, and its methods take the caller's open
    # database session, never a user's input.
    owners = {
        base
        for cls in (Workspace, Governance)
        for base in cls.__mro__
        if base.__module__.startswith("lmops_core.") and base is not GovernancePart
    }
    assert {c.__name__ for c in owners} == {"Workspace", "Governance", "RequestViews"}
    for cls in owners:
        for name, member in vars(cls).items():
            if (
                not name.startswith("_")
                and callable(member)
                and not isinstance(member, classmethod | staticmethod | property)
            ):
                assert getattr(member, "__lmops_checked__", False), f"{cls.__name__}.{name}"


def test_checked_public_leaves_other_objects_to_the_method() -> None:
    @checked_public
    class Thing:
        def take(self, path: Path, fn: Callable[[], int], n: int = 0) -> int:
            return fn() + n

    assert Thing().take(Path("/x"), lambda: 1, n=2) == 3
    with pytest.raises(ValidationError, match="n must be between"):
        Thing().take(Path("/x"), lambda: 1, n=2**64)
    with pytest.raises(TypeError):
        Thing().take()  # type: ignore[call-arg]


def test_the_items_of_a_spread_argument_are_checked_under_their_own_names() -> None:
    @checked_public
    class Thing:
        def take(self, first: str, **options: object) -> list[str]:
            return [first, *options]

    assert Thing().take("a", limit=3, note="ok") == ["a", "limit", "note"]
    with pytest.raises(ValidationError, match="limit must be between 0 and") as err:
        Thing().take("a", limit=-1)
    assert err.value.details["field"] == "limit"
    with pytest.raises(ValidationError) as err:
        Thing().take("a", note={"deep": NUL})
    assert err.value.details["field"] == "note.deep"


def test_tag_values_longer_than_their_column_are_refused(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        ws.register_model("m", make_model_folder(tmp_path / "m"), tags={"k": "v" * 513})
    assert err.value.details["field"] == "tags.k"
    assert ws.list_assets("model") == []
