"""The re-scan's view of a redacted text, and where its findings lie in the output."""

from __future__ import annotations

from typing import Any

import pytest
from lmops_presidio.config import GuardConfig, OperatorSpec
from lmops_presidio.guard import Finding, PiiGuard, Redaction
from lmops_presidio.prefilter import english_view
from lmops_presidio.rescan import BLANK, rescan_view, union


def test_spans_that_overlap_or_touch_are_joined() -> None:
    assert union([(5, 8), (0, 2), (2, 3), (6, 10)]) == ((0, 3), (5, 10))


def test_the_view_blanks_each_span_at_its_own_width_and_maps_back() -> None:
    source = "call 13812345678 or Ada now"
    output = "call <CN_MOBILE> or <PERSON> now"
    view = rescan_view(source, [(5, 16), (20, 23)], output, [(5, 16), (20, 28)])
    assert view is not None
    assert view.text == "call " + BLANK * 11 + " or " + BLANK * 3 + " now"
    # "now" starts at 24 in the source and at 29 in the output.
    assert (view.output_start(24), view.output_end(27)) == (29, 32)
    # Edges inside a redacted span go to that span's edges in the output.
    assert (view.output_start(21), view.output_end(22)) == (20, 28)
    assert (view.output_start(0), view.output_end(4)) == (0, 4)


def test_a_partial_mask_leaves_no_view_and_the_output_is_scanned() -> None:
    source = "card 4111111111111111 ok"
    output = "card ************1111 ok"
    assert rescan_view(source, [(5, 21)], output, [(5, 17)]) is None
    config = GuardConfig(
        ner_model=None,
        operators={"CREDIT_CARD": OperatorSpec(kind="mask", chars_to_mask=12)},
    )
    redaction = PiiGuard(config).redact(source)
    assert redaction.text == output and redaction.view is None


def test_leftovers_are_found_in_the_view_and_given_in_output_offsets() -> None:
    # A redaction that missed the e-mail address after a redacted name.
    source, output = "Bob wrote ada@example.com", "<PERSON> wrote ada@example.com"
    redaction = Redaction(
        text=output,
        counts={"PERSON": 1},
        findings=(Finding("PERSON", 0, 3, 0.85),),
        written=((0, 8),),
        view=rescan_view(source, [(0, 3)], output, [(0, 8)]),
    )
    (left,) = PiiGuard(GuardConfig(ner_model=None)).leftovers([redaction])
    assert [(f.entity_type, output[f.start : f.end]) for f in left] == [
        ("EMAIL_ADDRESS", "ada@example.com")
    ]


def test_a_name_next_to_a_phone_number_is_found_in_the_first_pass() -> None:
    # The NER reads the text with the number blanked, as the re-scan will read it.
    text = "客户 Emily Johnson 要求更改联系电话为 17025612011。"
    guard = PiiGuard()
    redaction = guard.redact(text)
    assert [(f.entity_type, text[f.start : f.end]) for f in redaction.findings] == [
        ("PERSON", "Emily Johnson"),
        ("CN_MOBILE", "17025612011"),
    ]
    assert redaction.text == "客户 <PERSON> 要求更改联系电话为 <CN_MOBILE>。"
    assert guard.leftovers([redaction]) == [[]]


def test_a_blanked_card_number_does_not_make_the_word_before_it_a_name() -> None:
    # With the number blanked by spaces, spaCy read "Mastercard" as a PERSON (and the demo's
    # training data lost the brand name); the first pass and the re-scan must both leave it.
    text = "My new Mastercard 5555 5555 5555 4444 is not working."
    guard = PiiGuard()
    redaction = guard.redact(text)
    assert redaction.text == "My new Mastercard <CREDIT_CARD> is not working."
    assert guard.leftovers([redaction]) == [[]]


def test_a_blanked_run_is_one_token_for_the_english_ner_and_never_a_name() -> None:
    # spaCy splits "#" off one at a time; the English view keeps the first blank and
    # writes the rest as one run of dots, so a blanked ID is two tokens, not eighteen.
    assert english_view("call " + BLANK * 6 + " now") == "call #..... now"
    assert english_view("a # b") == "a # b"
    # Read with a redacted name blanked, the English NER once tagged the blank itself as a
    # PERSON: a placeholder counted as a leftover. Blanks are trimmed off its findings.
    text = "As requested by 方永刚, the card has been blocked.经办人：郑依诺，复核人：谢淑芬。"
    guard = PiiGuard()
    (redaction,) = guard.redact_batch([text])
    assert redaction.text == (
        "As requested by <PERSON>, the card has been blocked.经办人：<PERSON>，复核人：<PERSON>。"
    )
    assert guard.leftovers([redaction]) == [[]]


def _english_reads(guard: PiiGuard, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every text the guard's English NER is given from now on (until the test ends:
    the engine is shared by every guard of the process)."""
    engine = guard.analyzer.nlp_engine
    read: list[str] = []
    original = engine.process_batch

    def process_batch(texts: list[str], *args: Any, **kwargs: Any) -> Any:
        read.extend(texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(engine, "process_batch", process_batch)
    return read


def test_the_english_ner_reads_only_sentences_with_latin_letters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guard = PiiGuard()
    read = _english_reads(guard, monkeypatch)
    text = "李娜明天去上海。Please call Emily Johnson today!请确认。"
    (redaction,) = guard.redact_batch([text])
    # Only the English sentence was read, and its finding lies where it is in the whole text.
    assert read == ["Please call Emily Johnson today!"]
    assert ("PERSON", "Emily Johnson") in [
        (f.entity_type, text[f.start : f.end]) for f in redaction.findings
    ]


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        (
            "The report is ready!\nPlease call Emily Johnson today!",
            "The report is ready!\nPlease call <PERSON> today!",
        ),
        # The English NER read "Customer    called..." in the first pass, and reads the same
        # with the Chinese name redacted: Han characters and a redacted Han name are spaces.
        (
            "Customer 王芳 called about the loan.\nPlease call Emily Johnson today!",
            "Customer <PERSON> called about the loan.\nPlease call <PERSON> today!",
        ),
    ],
)
def test_the_rescan_reads_again_only_the_sentences_redaction_changed(
    text: str, redacted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = PiiGuard()
    (redaction,) = guard.redact_batch([text])
    assert redaction.text == redacted
    read = _english_reads(guard, monkeypatch)
    assert guard.leftovers([redaction]) == [[]]
    # The first sentence reads as in the first pass: its findings (none) are reused.
    assert read == ["Please call #............ today!"]


def test_a_redacted_chinese_name_reads_to_the_english_ner_as_the_first_pass_did() -> None:
    source = "请联系王芳 about James Lee."
    output = "请联系<PERSON> about <PERSON>."
    view = rescan_view(source, [(3, 5), (12, 21)], output, [(3, 11), (18, 26)])
    assert view is not None
    # Only the Han-only span is a space to the English NER; the Latin one stays blanked.
    assert view.han == ((3, 5),)
    assert view.latin == "请联系   about " + BLANK * 9 + "."
    assert english_view(view.latin) == english_view(source[:12]) + BLANK + "." * 8 + "."


def test_views_that_blank_alike_but_hide_different_scripts_are_read_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guard = PiiGuard()
    chinese = "王芳 called. Please call back."
    latin = "Jo called. Please call back."
    redactions = [
        Redaction(text=text, counts={"PERSON": 1}, view=rescan_view(text, [(0, 2)], text, [(0, 2)]))
        for text in (chinese, latin)
    ]
    assert redactions[0].view is not None and redactions[1].view is not None
    assert redactions[0].view.text == redactions[1].view.text
    guard.redact_batch(["warm up"])
    read = _english_reads(guard, monkeypatch)
    guard.leftovers(redactions)
    # One view, two readings: read with the blanks, as the Latin name's view must be.
    assert read == [english_view(redactions[1].view.text)]
