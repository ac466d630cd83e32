"""The validation report opens with its verdict: allowed or blocked for the stage, and why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core.reports import render_report
from tests.api.conftest import Env, build_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = build_env(tmp_path, None)
    yield e
    e.ws.close()


def _verdict(markdown: str) -> str:
    sections = markdown.split("\n## ")
    assert sections[1].startswith("Verdict"), "the report does not open with its verdict"
    return sections[1]


def test_allowed_only_when_every_blocking_gate_passes(env: Env) -> None:
    good, bad = env.model(acc=0.8), env.model(acc=0.3)
    allowed = _verdict(render_report(env.ws, good).markdown)
    assert "production: ALLOWED (every blocking rule passes)" in allowed
    blocked = _verdict(render_report(env.ws, bad).markdown)
    assert "production: ALLOWED" not in blocked
    assert "production: BLOCKED (prod/accuracy fail)" in blocked
    # The gate with its threshold beside the measured value.
    assert (
        "| prod/accuracy | FAIL | blocking | evidence.eval.metrics.acc \\>= 0.5 | eval.acc = 0.3 |"
    ) in blocked
    assert "open issues: 1 (listed under Open issues)" in blocked
    html = render_report(env.ws, bad).html
    assert html.index("<h2>Verdict</h2>") < html.index("<h2>Identity and lineage</h2>")


def test_a_revoked_version_is_blocked_and_says_by_whom_and_why(env: Env) -> None:
    ref = env.model(acc=0.8)
    req = env.as_user("sub").governance.request_promotion(ref, to="production")
    for user, role in (("val", "validator"), ("risk", "risk_officer")):
        env.as_user(user).governance.decide(req.id, approve=True, role=role, comment="ok")
    promoted = _verdict(render_report(env.ws, ref).markdown)
    assert "stage now: production" in promoted
    assert f"latest request {req.id} to production: approved" in promoted
    env.as_user("risk").governance.revoke(
        ref, stage="production", reason="drifted share 0.82 > 0.5"
    )
    verdict = _verdict(render_report(env.ws, ref).markdown)
    assert "production: BLOCKED (version is revalidation-required" in verdict
    assert "production: ALLOWED" not in verdict
    assert "revoked from production on 20" in verdict
    assert "by risk: drifted share 0.82 \\> 0.5" in verdict


def test_raw_metric_dumps_are_folded_and_the_verdict_is_not(env: Env) -> None:
    ref = env.model(acc=None)
    metrics = {"acc": 0.7, **{f"task_{i:02d}": i / 100 for i in range(20)}}
    env.ws.as_actor("val").attach_evidence(
        ref, kind="eval", digest=env.ws.get(ref).digest, metrics=metrics
    )
    html = render_report(env.ws, ref).html
    verdict, rest = html.split('<section id="identity">', 1)
    assert "<details>" not in verdict and "eval.acc = 0.7" in verdict
    folded = rest[rest.index("<details><summary>eval evidence on") :]
    assert "(21 rows)</summary><table>" in folded
    assert folded.index("task_19") < folded.index("</details>")
