"""The numpy scan of a chunk's UTF-8 bytes against plain Python, text by text."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from lmops_evidently.scan import leading_words, scan_texts
from lmops_evidently.text import CJK_CLASS, SCRIPT_LABELS, script_labels, words

_CJK_WORD = re.compile(f"[{CJK_CLASS}]")

# One of each: CJK (BMP, extension B, compatibility), kana, hangul, emoji (4 bytes, and a
# ZWJ sequence), combining marks, 2-byte letters, fullwidth forms, controls, and texts whose
# bytes end on and across 8-byte boundaries.
TRICKY: list[str | None] = [
    "",
    None,
    "a",
    "abcdefg",
    "abcdefgh",
    "abcdefghi",
    "你好世界",
    "GPU很快, 你好 ok",
    "𠀋𠀍 ext-B 𠀋",
    "豈 compatibility",
    "ひらがな カタカナ",
    "한국어 텍스트",
    "😀 emoji 👩‍👩‍👧 family",
    "e\u0301 combining\u0301 marks\u20dd",
    "café naïve Ærøskøbing",
    "ｆｕｌｌ ｗｉｄｔｈ ＡＢＣ",
    "Привет мир",
    "مرحبا بالعالم",
    "שלום",
    "\x00\x1f\x7f control",
    "under_score __x__ 42abc abc42",
    "  leading, trailing.  ",
    "...!?",
    "MiXeD CaSe WORDS",
    "中a中b中",
    "a\u3000b",  # ideographic space: not a CJK word, so the text is not plain
]


def _plain(text: str) -> bool:
    return all(c.isascii() or _CJK_WORD.fullmatch(c) for c in text)


def _check(texts: list[str | None], block_bytes: int, kind: pa.DataType) -> None:
    present = [t or "" for t in texts]
    scanned = scan_texts(pa.array(present, type=kind), block_bytes)
    assert scanned.lengths.tolist() == [len(t) for t in present]
    assert scanned.ascii.tolist() == [t.isascii() for t in present]
    assert scanned.plain.tolist() == [_plain(t) for t in present]
    assert [SCRIPT_LABELS[c] for c in scanned.scripts] == script_labels(present)
    expected = [words(t) if _plain(t) else [] for t in present]
    assert scanned.counts.tolist() == [len(w) for w in expected]
    # The word pieces, read through their leading words, are each plain text's words.
    leading = leading_words(scanned.pieces).to_pylist()
    found: list[list[str]] = [[] for _ in present]
    for piece, owner, worded in zip(leading, scanned.owners, scanned.worded, strict=True):
        if worded:
            found[owner].append(piece)
    assert found == expected
    # The pieces cover the texts' bytes, in order, each within one text.
    assert "".join(scanned.pieces.to_pylist()) == "".join(present)
    assert np.all(np.diff(scanned.owners) >= 0)


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_tricky_utf8_equals_python(kind: pa.DataType):
    _check(TRICKY, 1 << 20, kind)


@pytest.mark.parametrize("block_bytes", [1, 7, 64])
def test_small_blocks_change_nothing(block_bytes: int):
    _check(TRICKY * 3, block_bytes, pa.string())


def test_random_texts_equal_python():
    rng = np.random.default_rng(5)
    alphabet = list("aZ09_ -.,\t'你好世界𠀋こカ한éÆøПمש\u0301😀ｆ\x00")
    plain = [c for c in alphabet if c.isascii() or _CJK_WORD.fullmatch(c)]
    texts: list[str | None] = [
        "".join(rng.choice(plain if i % 3 else alphabet, size=int(rng.integers(0, 30))))
        for i in range(2000)
    ]
    _check(texts, 1 << 20, pa.string())
    _check(texts, 256, pa.large_string())


def test_a_slice_of_a_column_is_scanned_alone():
    column = pa.array(["skip me 你", "hello World", "", "中文 ok", "tail"]).slice(1, 3)
    scanned = scan_texts(column)
    assert scanned.lengths.tolist() == [11, 0, 5]
    assert scanned.counts.tolist() == [2, 0, 3]
    assert scanned.pieces.to_pylist() == ["hello ", "World", "中", "文 ", "ok"]


def test_leading_words_of_distinct_pieces():
    pieces = pc.dictionary_encode(pa.array(["Hello, ", "hello ", "WORLD", "中", "x_1 ", " "]))
    assert leading_words(pieces.dictionary).to_pylist() == [
        "hello",
        "hello",
        "world",
        "中",
        "x_1",
        "",
    ]


def test_an_empty_chunk():
    scanned = scan_texts(pa.array([], type=pa.string()))
    assert scanned.lengths.tolist() == scanned.counts.tolist() == []
    assert len(scanned.pieces) == 0
