"""Two reviewers approving the same request at the same instant: one promotion, two records."""

from __future__ import annotations

import threading
from pathlib import Path

from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, ws_as

ROUNDS = 50


def test_simultaneous_approvals_promote_once(gov_ws: Workspace, tmp_path: Path) -> None:
    eng, val, risk = (ws_as(gov_ws, u) for u in ("eng", "val", "risk"))
    refs = []
    for i in range(ROUNDS):
        v = eng.register_model("race", make_model_folder(tmp_path / f"m{i}", bytes([i]) * 64))
        val.attach_evidence(v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.6 + i / 1000})
        refs.append(v.ref)
    for ref in refs:
        req = eng.governance.request_promotion(ref, to="production")
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def approve(
            ws: Workspace,
            role: str,
            req_id: str = req.id,
            gate: threading.Barrier = barrier,
            sink: list[BaseException] = errors,
        ) -> None:
            try:
                gate.wait()
                ws.governance.decide(req_id, approve=True, role=role, comment=f"{role} ok")
            except BaseException as exc:  # noqa: BLE001
                sink.append(exc)

        threads = [
            threading.Thread(target=approve, args=(val, "validator")),
            threading.Thread(target=approve, args=(risk, "risk_officer")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        detail = gov_ws.governance.get_request(req.id)
        assert detail.status == "approved"
        assert sorted(d.role for d in detail.decisions) == ["risk_officer", "validator"]
        assert gov_ws.get(ref).stage == "production"
    completes = gov_ws.audit_events(action="promotion.complete", limit=1000)
    assert len(completes) == ROUNDS
    assert len({e.after["request_id"] for e in completes}) == ROUNDS
    assert [v.ref for v in gov_ws.search("model", stage="production")] == [refs[-1]]
    assert gov_ws.verify_audit().ok
