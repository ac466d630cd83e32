"""Redacting the token segments a report shows, with lmops-presidio's real guard."""

from __future__ import annotations

from lmops_shap.redaction import default_redactor


def test_segments_overlapping_personal_data_are_blanked_and_aligned() -> None:
    redactor = default_redactor()
    assert redactor is not None
    prompt = "Mail bob.stone@example.org now"
    segments = ["", "Mail", " bob", ".", "stone", "@", "example", ".org", " now"]
    shown = redactor.redact_segments(prompt, segments)
    assert len(shown) == len(segments)
    assert shown[:2] == ["", "Mail"] and shown[-1] == " now"
    assert shown[2] == " <EMAIL_ADDRESS>"
    assert all(s == "" for s in shown[3:8])
    assert "bob" not in "".join(shown)


def test_text_around_a_finding_inside_one_segment_is_kept() -> None:
    redactor = default_redactor()
    assert redactor is not None
    prompt = "to:bob.stone@example.org,ok"
    assert redactor.redact_segments(prompt, [prompt]) == ["to:<EMAIL_ADDRESS>,ok"]


def test_segments_that_do_not_cover_the_prompt_fail_closed() -> None:
    redactor = default_redactor()
    assert redactor is not None
    shown = redactor.redact_segments("call bob.stone@example.org", ["call", " someone"])
    assert shown == ["<EMAIL_ADDRESS>", "<EMAIL_ADDRESS>"]


def test_text_without_personal_data_is_unchanged() -> None:
    redactor = default_redactor()
    assert redactor is not None
    assert redactor.redact_segments("Why is the sky blue?", ["Why", " is"]) == ["Why", " is"]
    assert redactor.redact_text("The sky is blue.") == "The sky is blue."
