"""Sample review in the console over HTTP: listing, records, verdicts, finishing, refusals."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.api.conftest import Env
from tests.api.test_console_pages import sign_in


def _review(env: Env, size: int = 3) -> str:
    """A sample review of the test dataset, drawn by the data steward."""
    review = env.as_user("steward").annotation.sample_review(env.dataset(), size=size, seed=1)
    return review.id


def test_reviewer_accepts_rejects_and_finishes_in_the_console(env: Env) -> None:
    review_id = _review(env)
    with TestClient(env.app) as c:
        csrf = sign_in(c, env.tokens["val"], "val")
        listed = c.get("/console/reviews")
        assert listed.status_code == 200 and f"/console/reviews/{review_id}" in listed.text
        page = c.get(f"/console/reviews/{review_id}")
        assert page.status_code == 200 and page.text.count('class="verdict"') == 3
        records = [i.record_index for i in env.ws.annotation.review(review_id).items]
        assert f"question {records[0]}" in page.text  # the record itself, to judge it
        url = f"/console/reviews/{review_id}/decide"
        no_reason = c.post(url, data={"csrf": csrf, "record": records[0], "decision": "reject"})
        assert no_reason.status_code == 422 and "needs a reason" in no_reason.text
        not_sampled = c.post(url, data={"csrf": csrf, "record": 99, "decision": "accept"})
        assert not_sampled.status_code == 422 and "not in sample review" in not_sampled.text
        rejected = c.post(
            url,
            data={"csrf": csrf, "record": records[0], "decision": "reject", "reason": "wrong"},
            follow_redirects=False,
        )
        assert rejected.status_code == 303
        assert "Your rejection was recorded." in c.get(rejected.headers["location"]).text
        for index in records[1:]:
            ok = c.post(url, data={"csrf": csrf, "record": index, "decision": "accept"})
            assert ok.status_code == 200 and "Your acceptance was recorded." in ok.text
        twice = c.post(
            url, data={"csrf": csrf, "record": records[1], "decision": "reject", "reason": "x"}
        )
        assert twice.status_code == 409 and "already accepted by val" in twice.text
        # The verdicts are the JSON API's: same reviewer, same reasons.
        api = c.get(f"/api/v1/reviews/{review_id}", headers=env.auth("view")).json()
        assert {
            (i["record_index"], i["decision"], i["decided_by"], i["reason"]) for i in api["items"]
        } == {
            (records[0], "rejected", "val", "wrong"),
            *((i, "accepted", "val", None) for i in records[1:]),
        }
        done = c.post(f"/console/reviews/{review_id}/finish", data={"csrf": csrf})
        assert done.status_code == 200 and 'id="review-status">finished<' in done.text
    result = env.ws.annotation.review(review_id).result_ref
    assert result is not None and result in done.text
    assert env.ws.get(result).record_count == 3  # four records, one rejected
    audit = [e.action for e in env.ws.audit_events(limit=1000)]
    assert {"review.accept", "review.reject", "review.close"} <= set(audit)


def test_viewer_sees_no_review_controls_and_forged_posts_are_refused(
    client: TestClient, sqlite_env: Env
) -> None:
    review_id = _review(sqlite_env, size=2)
    index = sqlite_env.ws.annotation.review(review_id).items[0].record_index
    csrf = sign_in(client, sqlite_env.tokens["view"], "view")
    page = client.get(f"/console/reviews/{review_id}")
    assert page.status_code == 200 and 'class="verdict"' not in page.text
    assert "not judge them" in page.text and "question" not in page.text  # no record content
    forged = client.post(
        f"/console/reviews/{review_id}/decide",
        data={"csrf": csrf, "record": index, "decision": "accept"},
    )
    assert forged.status_code == 403 and "Refused" in forged.text
    client.cookies.clear()
    csrf = sign_in(client, sqlite_env.tokens["steward"], "steward")
    url = f"/console/reviews/{review_id}/decide"
    no_csrf = client.post(url, data={"record": index, "decision": "accept"})
    wrong = client.post(url, data={"csrf": csrf[::-1], "record": index, "decision": "accept"})
    cross = client.post(
        url,
        headers={"Origin": "http://evil.example"},
        data={"csrf": csrf, "record": index, "decision": "accept"},
    )
    early = client.post(f"/console/reviews/{review_id}/finish", data={"csrf": csrf[::-1]})
    assert [r.status_code for r in (no_csrf, wrong, cross, early)] == [403, 403, 403, 403]
    review = sqlite_env.ws.annotation.review(review_id)
    assert review.undecided == 2 and review.status == "open"
    body = json.dumps([i.model_dump(mode="json") for i in review.items])
    assert '"decided_by": null' in body
