"""Rendering validation reports from a real store: sections, determinism, no raw PII."""

from __future__ import annotations

import re
from pathlib import Path

from lmops_core.reports import SECTIONS, render_report
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings, ws_as
from tests.reports.conftest import CARD, EMAIL, Store


def _h2(html: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", html)


def test_every_section_is_present_in_both_formats(store: Store) -> None:
    report = render_report(store.ws, store.candidate)
    titles = [title for _, title in SECTIONS]
    # lmops-presidio (loaded by the fixture) adds its section after the data evidence
    titles.insert(titles.index("Data evidence") + 1, "PII evidence")
    assert [line[3:] for line in report.markdown.splitlines() if line.startswith("## ")] == titles
    assert _h2(report.html) == titles


def test_empty_sections_say_none_recorded(tmp_path: Path, sqlite_home: Path) -> None:
    with Workspace.open(make_settings(sqlite_home)) as ws:
        ref = ws.register_model("lone", make_model_folder(tmp_path / "m")).ref
        report = render_report(ws, ref)
    md_sections = report.markdown.split("\n## ")[1:]
    for key in (
        "Evidence summary",
        "Data evidence",
        "Training configuration",
        "Evaluation and safety",
        "Explanations",
        "Approval trail",
    ):
        body = next(s for s in md_sections if s.startswith(key))
        assert "none recorded" in body, key
    assert "lineage: none recorded" in report.markdown
    assert 'class="none">none recorded' in report.html


def test_report_shows_lineage_data_training_comparison_and_trail(store: Store) -> None:
    report = render_report(store.ws, store.candidate)
    md, html = report.markdown, report.html
    # lineage reaches the raw dataset through the redacted one
    assert store.redacted in md and store.dataset in md
    assert "<svg" in html and "lineage graph" in html
    # PII counts per entity type, before and after
    assert re.search(r"\| EMAIL_ADDRESS \| 1 \| 0 \|", md)
    assert re.search(r"\| CREDIT_CARD \| 1 \| 0 \|", md)
    # training run parameters and loss curve summary, sparkline in HTML
    assert "report-test-train" in md and "| variant | 2 |" in md
    assert "20 points, first 2, last 0.1, min 0.1 (at step 20)" in md
    assert "<polyline" in html
    # side-by-side with the production version
    assert f"| metric | {store.candidate} | {store.production} |" in md
    assert "| acc | 0.8 | 0.7 |" in md
    # policy evaluation with absolute times, no relative ages
    assert "ALLOWED" in md and " ago" not in md and " ago" not in html
    assert re.search(r"eval evidence recorded \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", md)
    # the pending request of this version is in its trail
    assert store.request_id in md


def test_approval_trail_lists_decisions_with_comments(store: Store) -> None:
    md = render_report(store.ws, store.production).markdown
    trail = md.split("## Approval trail", 1)[1].split("## Open issues", 1)[0]
    assert "| val | validator | approve | eval and safety reviewed |" in trail
    assert "| risk | risk_officer | approve | risk accepted for launch |" in trail
    assert "approved" in trail


def test_digest_is_deterministic_and_tracks_evidence(store: Store) -> None:
    first = render_report(store.ws, store.candidate)
    again = render_report(store.ws, store.candidate)
    assert first.digest == again.digest
    assert first.markdown == again.markdown and first.html == again.html
    assert first.digest in first.markdown and first.digest in first.html
    v = store.ws.get(store.candidate)
    store.ws.attach_evidence(
        store.candidate, kind="serving_perf", digest=v.digest, metrics={"latency_ms_p95": 12.5}
    )
    changed = render_report(store.ws, store.candidate)
    assert changed.digest != first.digest
    assert "latency_ms_p95" in changed.markdown


def test_no_raw_personal_data_in_report(store: Store) -> None:
    # The raw dataset really holds the values (so the check below can fail)...
    raw = store.ws.artifacts.read_bytes(store.ws.get(store.dataset).digest).decode()
    assert EMAIL in raw and CARD in raw
    for ref in (store.candidate, store.production):
        report = render_report(store.ws, ref)
        for text in (report.markdown, report.html):
            for value in (EMAIL, CARD, CARD.replace(" ", ""), "jane.roe"):
                assert value not in text


def test_html_is_self_contained(store: Store) -> None:
    html = render_report(store.ws, store.candidate).html
    assert "<script" not in html.lower()
    assert not re.search(r"\b(src|href)\s*=", html, re.IGNORECASE)
    assert "@import" not in html and "url(http" not in html


def test_reviewer_text_is_escaped_in_html(store: Store) -> None:
    comment = "<script>alert(1)</script> | not ready"
    ws_as(store.ws, "val").governance.decide(
        store.request_id, approve=False, role="validator", comment=comment
    )
    report = render_report(store.ws, store.candidate)
    assert "<script" not in report.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; | not ready" in report.html
    assert "\\<script\\>alert(1)\\</script\\> \\| not ready" in report.markdown


def test_report_embeds_the_newest_audit_checkpoint(store: Store, tmp_path: Path) -> None:
    written = store.ws.write_audit_checkpoint()
    report = render_report(store.ws, store.candidate)
    assert report.audit_checkpoint == written
    line = re.search(
        r"Audit log checkpoint \(signed, outside the digest\): `(.*)`", report.markdown
    )
    assert line is not None and 'id="audit-checkpoint"' in report.html
    kept = tmp_path / "from-report.json"
    kept.write_text(line.group(1))
    assert store.ws.verify_audit(checkpoint=kept).ok
