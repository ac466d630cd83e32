"""Chinese names, places and organisations: LAC through the default guard, measured on the
held-out part of the bilingual set (``tests/data/bilingual_pii``, written by
``benchmarks/make_bilingual_pii_set.py``; never used for tuning)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from lmops_presidio import zh_ner
from lmops_presidio.config import GuardConfig
from lmops_presidio.evaluation import LabelledText, Score, Span, load_labelled, score
from lmops_presidio.guard import PiiGuard
from lmops_presidio.prefilter import HAN, english_view
from lmops_presidio.rescan import BLANK
from lmops_presidio.zh_ner import (
    ChineseNerRecognizer,
    lac_entities_batch,
    lac_model,
    lac_words_batch,
    sentences,
    squeeze_blanks,
)

HELDOUT = Path(__file__).parent / "data" / "bilingual_pii" / "heldout.jsonl"


def _chinese(text: str, spans: list[Span]) -> list[Span]:
    """PERSON spans written in Han characters, relabelled ``PERSON_ZH``."""
    return [
        ("PERSON_ZH", s, e)
        for entity, s, e in spans
        if entity == "PERSON" and HAN.search(text, s, e) is not None
    ]


@pytest.fixture(scope="module")
def heldout() -> tuple[list[LabelledText], list[list[Span]]]:
    samples = load_labelled(HELDOUT)
    guard = PiiGuard(GuardConfig())
    found = guard.scan_batch([sample.text for sample in samples])
    return samples, [[(f.entity_type, f.start, f.end) for f in fs] for fs in found]


def test_heldout_set_is_bilingual_and_large_enough(
    heldout: tuple[list[LabelledText], list[list[Span]]],
) -> None:
    samples, _ = heldout
    assert {sample.lang for sample in samples} == {"zh", "en", "mixed"}
    chinese = sum(len(_chinese(s.text, list(s.spans))) for s in samples)
    assert chinese >= 300


def test_chinese_person_recall_and_precision_on_heldout(
    heldout: tuple[list[LabelledText], list[list[Span]]],
) -> None:
    samples, found = heldout
    result = Score()
    for sample, predicted in zip(samples, found, strict=True):
        result.add(_chinese(sample.text, list(sample.spans)), _chinese(sample.text, predicted))
    assert result.recall("PERSON_ZH") >= 0.95
    assert result.precision("PERSON_ZH") >= 0.9


def test_overall_recall_and_english_on_heldout(
    heldout: tuple[list[LabelledText], list[list[Span]]],
) -> None:
    samples, found = heldout
    scores = score(samples, found, entities=GuardConfig().active_entities)
    assert scores["all"].recall() >= 0.97
    assert scores["all"].precision() >= 0.9
    # English text keeps what the English NER found before the Chinese NER came.
    assert scores["en"].recall("PERSON") >= 0.95
    assert scores["en"].precision("PERSON") >= 0.95


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("VIP客户王芳的账户已冻结。", "王芳"),
        ("李娜明天去上海", "李娜"),
        ("Please call 陈晓东 about the loan.", "陈晓东"),
        ("请转告欧阳修文，他的贷款已批准。", "欧阳修文"),
        ("客户 Zhang Wei（张伟）已开户。", "Zhang Wei"),
    ],
)
def test_chinese_names_are_redacted(text: str, name: str) -> None:
    redaction = PiiGuard().redact(text)
    assert name not in redaction.text
    assert "<PERSON>" in redaction.text


def test_english_ner_reads_full_width_punctuation_as_ascii() -> None:
    text = "请把报告发给 Emily Lewis，邮箱 jie10@example.com。（Ｊｏｈｎ）"
    view = english_view(text)
    assert view == "       Emily Lewis,   jie10@example.com (John)"
    assert len(view) == len(text)
    # Read as "Emily Lewis," the name is found; before, the comma was a blank and it was not.
    findings = PiiGuard().scan(text)
    assert ("PERSON", "Emily Lewis") in {(f.entity_type, text[f.start : f.end]) for f in findings}


def test_english_ner_does_not_read_chinese_as_names() -> None:
    findings = PiiGuard().scan("请拨打手机 <CN_MOBILE> 联系我。")
    assert [f.entity_type for f in findings] == []


def test_organisations_only_when_asked_for() -> None:
    text = "张伟在中国工商银行工作。"
    default = {f.entity_type for f in PiiGuard().scan(text)}
    asked = PiiGuard(GuardConfig(entities=("PERSON", "ORGANIZATION"))).scan(text)
    assert default == {"PERSON"}
    assert [(f.entity_type, text[f.start : f.end]) for f in asked] == [
        ("PERSON", "张伟"),
        ("ORGANIZATION", "中国工商银行"),
    ]


def test_chinese_ner_can_be_turned_off() -> None:
    config = GuardConfig(chinese_ner=False)
    assert PiiGuard(config).scan("李娜明天去上海") == []
    assert config.describe()["chinese_ner"] is False
    assert GuardConfig().describe()["chinese_ner"] is True


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("多恩熊是黑色的。", []),  # a coined creature, not a person
        ("拉斯克猫头鹰住在森林里。", []),  # a transliteration with no surname and no cue
        ("莫罗鱼是什么颜色？", []),
        ("客户阿依古丽·买买提已到柜台。", ["阿依古丽·买买提"]),  # a transliterated name
        ("小王明天来办理。", ["小王"]),
    ],
)
def test_chinese_person_needs_a_surname_or_a_cue(text: str, names: list[str]) -> None:
    findings = PiiGuard().scan(text)
    assert [text[f.start : f.end] for f in findings if f.entity_type == "PERSON"] == names


def test_batched_lac_tags_every_text_as_lac_does_one_by_one() -> None:
    texts = [sample.text for sample in load_labelled(HELDOUT)[::7]]
    # Equal lengths share one ONNX call; the empty text and a lone character too.
    texts += ["李娜明天去上海", "王芳昨天回北京", "", "张", "请拨打 <CN_MOBILE> 联系我。"]
    one_by_one = [[tuple(pair) for pair in lac_model().run(text)] for text in texts]
    assert lac_words_batch(texts) == one_by_one


def test_lac_reads_sentence_by_sentence() -> None:
    text = "李娜明天去上海。王芳呢？\nok"
    assert sentences(text) == [(0, "李娜明天去上海。"), (8, "王芳呢？"), (12, "\n"), (13, "ok")]


def test_sentences_read_before_give_the_same_entities_at_their_new_offsets() -> None:
    texts = ["李娜明天去上海。王芳昨天回北京。", "请联系王芳。客户李娜明天去上海。"]
    known: dict[str, list[tuple[str, int, int]]] = {}
    first = lac_entities_batch(texts, known)
    assert "王芳昨天回北京。" in known and "请联系王芳。" in known
    # Every sentence of these is known now: nothing is read, offsets still shift.
    again = ["王芳昨天回北京。李娜明天去上海。"]
    assert lac_entities_batch(again, known) == lac_entities_batch(again)
    assert first == lac_entities_batch(texts)
    names = [again[0][s:e] for entity, s, e in lac_entities_batch(again, known)[0]]
    assert names == ["王芳", "北京", "李娜", "上海"]


def test_a_run_of_blanks_costs_lac_one_character() -> None:
    unit = "请拨打" + BLANK * 11 + "联系王芳。"
    short, places = squeeze_blanks(unit)
    assert short == "请拨打" + BLANK + "联系王芳。"
    assert [unit[place] for place in places] == list(short)
    # Entities come back at their places in the unsqueezed sentence.
    (found,) = lac_entities_batch([unit])
    assert [unit[s:e] for entity, s, e in found if entity == "PERSON"] == ["王芳"]


def test_a_sentence_read_by_an_earlier_call_is_not_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[str] = []
    real = zh_ner.lac_words_batch

    def counting(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
        read.extend(texts)
        return real(texts)

    monkeypatch.setattr(zh_ner, "lac_words_batch", counting)
    monkeypatch.setattr(zh_ner, "SENTENCES_KEPT", 2)
    recognizer = ChineseNerRecognizer()
    first, second, third = "李娜明天去上海。", "王芳昨天回北京。", "张伟在深圳工作。"
    recognizer.prepare([first + second])
    recognizer.prepare([third])  # keeps the two most recent: second, third
    assert read == [first, second, third]
    recognizer.prepare([second + first])
    assert read == [first, second, third, first]  # first was dropped, second kept
    found = recognizer.analyze(second + first, ["PERSON"])
    assert sorted((second + first)[r.start : r.end] for r in found) == ["李娜", "王芳"]
