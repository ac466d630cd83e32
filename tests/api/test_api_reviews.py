"""Sample review over HTTP: the token's owner is the reviewer, the service's rules hold."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import Env


def test_review_over_http(env: Env) -> None:
    ref = env.dataset()
    with TestClient(env.app) as c:
        drawn = c.post(
            "/api/v1/reviews", json={"ref": ref, "size": 3, "seed": 2}, headers=env.auth("steward")
        )
        assert drawn.status_code == 201, drawn.text
        review = drawn.json()
        assert review["created_by"] == "steward" and review["undecided"] == 3
        first, *rest = [i["record_index"] for i in review["items"]]
        url = f"/api/v1/reviews/{review['id']}"
        no_reason = c.post(f"{url}/reject", json={"indices": [first]}, headers=env.auth("val"))
        assert no_reason.status_code == 422
        rejected = c.post(
            f"{url}/reject",
            json={"indices": [first], "reason": "off topic"},
            headers=env.auth("val"),
        )
        assert rejected.status_code == 200, rejected.text
        again = c.post(f"{url}/accept", json={"indices": [first]}, headers=env.auth("steward"))
        assert again.status_code == 409 and "already rejected by val" in again.json()["message"]
        early = c.post(f"{url}/finish", json={}, headers=env.auth("steward"))
        assert early.status_code == 409 and "without a verdict" in early.json()["message"]
        c.post(f"{url}/accept", json={"indices": rest}, headers=env.auth("steward"))
        finished = c.post(f"{url}/finish", json={}, headers=env.auth("steward"))
        assert finished.status_code == 200, finished.text
        body = finished.json()
        assert body["version"] == "dataset:tickets@2" and body["review"]["status"] == "finished"
        shown = c.get(url, headers=env.auth("view")).json()
        assert [(i["decision"], i["decided_by"]) for i in shown["items"]][0] == ("rejected", "val")
        listed = c.get("/api/v1/reviews", params={"status": "finished"}, headers=env.auth("view"))
        assert [r["id"] for r in listed.json()] == [review["id"]]
    ev = env.ws.evidence(body["version"], kind="annotation")[-1]
    assert ev.metrics["review_rejected"] == 1 and ev.details["reasons"] == {"off topic": 1}
    assert env.ws.get(body["version"]).record_count == 3
