"""Descriptors measured on a whole Arrow column equal the per-text definitions, text by text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from lmops_evidently.columnar import TextColumn
from lmops_evidently.text import SCRIPT_LABELS, is_refusal, script_labels, words

# Plain ASCII/CJK texts take Arrow's path, the others Python's: both kinds, mixed.
TEXTS: list[str | None] = [
    "Hello World 42",
    "the model answers  questions ",
    " leading and trailing spaces ",
    "snake_case words and under__scores_",
    "tab\tseparated\nlines\r\n",
    "Hello, World! (a-b) [c/d] x.y",
    "I'm sorry, but I can't help with that.",
    "I’m sorry, but I can’t help with that.",
    "AS AN AI LANGUAGE MODEL, I CANNOT do that",
    "I CAN HELP with that",
    "café au lait, naïve Ærøskøbing",
    "İstanbul ve KELVIN \u212a",
    "GPU 很快",
    "你好世界",
    "抱歉，我无法提供这些信息。",
    "我不能帮助你",
    "ｆｕｌｌ ｗｉｄｔｈ ＡＢＣ",
    "Привет, мир! ПРИВЕТ",
    "مرحبا بالعالم",
    "שלום",
    "こんにちは カタカナ",
    "한국어 텍스트",
    "𠀋𠀍 and 😀 emoji",
    "ABC DEF",
    "",
    "   ",
    "...",
    "x",
    None,
    "\x00\x1f control",
]


def test_every_descriptor_equals_the_per_text_one():
    column = TextColumn(pa.array(TEXTS, type=pa.string()))
    present = [t or "" for t in TEXTS]
    assert column.missing.tolist() == [t is None for t in TEXTS]
    assert column.lengths().tolist() == [len(t) for t in present]
    tokens = column.tokens()
    cut = [words(t) for t in present]
    assert tokens.counts.tolist() == [len(c) for c in cut]
    # Each text's words in order, each decoded from its code.
    by_text: list[list[str]] = [[] for _ in present]
    for code, owner in zip(tokens.codes, tokens.owners, strict=True):
        by_text[owner].append(tokens.uniques[code])
    assert by_text == cut
    assert column.refusals().tolist() == [is_refusal(t) for t in present]
    labels = [SCRIPT_LABELS[c] for c in column.scripts()]
    assert labels == script_labels(present)


def test_chunks_of_a_larger_column_and_large_strings_agree():
    rng = np.random.default_rng(3)
    texts = [TEXTS[i] for i in rng.integers(0, len(TEXTS), 500)]
    whole = TextColumn(pa.array(texts, type=pa.large_string()))
    part = TextColumn(pa.array(texts, type=pa.string()).slice(100, 200))
    assert whole.lengths()[100:300].tolist() == part.lengths().tolist()
    assert whole.scripts()[100:300].tolist() == part.scripts().tolist()
    assert whole.refusals()[100:300].tolist() == part.refusals().tolist()
    counts = whole.tokens().counts
    assert counts[100:300].tolist() == part.tokens().counts.tolist()


# Characters of every kind the byte scan tells apart: ASCII word characters and
# separators, CJK (BMP and supplementary), kana, hangul, two-byte letters, scripts
# with case, right-to-left letters, marks, emoji, fullwidth forms.
ALPHABET = "aZ09_ -.,!\t\n'’你好世界数据𠀋𠀍こカ한국éÆøİ\u212aПрЖمرש\u0301😀ｆＡ"


def test_random_texts_of_every_script_agree_with_the_per_text_definitions():
    rng = np.random.default_rng(17)
    letters = list(ALPHABET)
    # Mostly plain texts (ASCII and CJK only), so the byte scan cuts their words.
    plain = [c for c in letters if c.isascii() or "\u3040" <= c <= "\ud7af"]
    texts = [
        "".join(rng.choice(plain if i % 3 else letters, size=int(rng.integers(0, 40))))
        for i in range(3000)
    ]
    column = TextColumn(pa.array(texts, type=pa.string()))
    assert column.lengths().tolist() == [len(t) for t in texts]
    labels = [SCRIPT_LABELS[c] for c in column.scripts()]
    assert labels == script_labels(texts)
    tokens = column.tokens()
    by_text: list[list[str]] = [[] for _ in texts]
    for code, owner in zip(tokens.codes, tokens.owners, strict=True):
        by_text[owner].append(tokens.uniques[code])
    assert by_text == [words(t) for t in texts]
    assert tokens.counts.tolist() == [len(words(t)) for t in texts]
    # Both paths were taken: the byte scan's (plain texts) and Python's.
    assert column.plain.any() and not column.plain.all()
