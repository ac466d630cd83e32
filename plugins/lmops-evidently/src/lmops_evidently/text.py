"""Per-text measurements: words, script (language family) and refusal phrases.

Everything here works on whole chunks of texts at once, so a window of a
million rows costs a few vectorised passes rather than a Python loop per
character.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

# CJK ideographs, kana and hangul are written without spaces: each character
# counts as one word, as in character-level word counts for Chinese.
CJK_CLASS = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uac00-\ud7af"  # hangul syllables
)
WORD_PATTERN = re.compile(rf"[{CJK_CLASS}]|[^\W{CJK_CLASS}]+")
"""A word: one CJK character, or a run of other word characters."""

SCRIPTS: tuple[str, ...] = ("latin", "cjk", "cyrillic", "arabic", "other")
"""Labels of the language descriptor, besides ``"none"`` (no letters at all)."""

NO_SCRIPT = "none"

_SCRIPT_RANGES: tuple[tuple[int, int, int], ...] = (
    # (first, last, index into SCRIPTS + 1); later rows win where ranges overlap.
    (0x0041, 0x024F, 1),
    (0x1E00, 0x1EFF, 1),
    (0x0400, 0x052F, 3),
    (0x0600, 0x06FF, 4),
    (0x0750, 0x077F, 4),
    (0x3040, 0x30FF, 2),
    (0x3400, 0x4DBF, 2),
    (0x4E00, 0x9FFF, 2),
    (0xF900, 0xFAFF, 2),
    (0xAC00, 0xD7AF, 2),
    (0x1100, 0x11FF, 2),
)


def _build_script_table() -> np.ndarray:
    """Map every BMP code point to 0 (not a letter) or 1 + its index in SCRIPTS."""
    is_letter = np.fromiter(
        (unicodedata.category(chr(cp)).startswith("L") for cp in range(0x10000)),
        dtype=bool,
        count=0x10000,
    )
    table = np.where(is_letter, SCRIPTS.index("other") + 1, 0).astype(np.uint8)
    for first, last, code in _SCRIPT_RANGES:
        block = slice(first, last + 1)
        table[block] = np.where(is_letter[block], code, 0)
    return table


SCRIPT_TABLE = _build_script_table()
"""Each BMP code point's script: 0 (not a letter) or 1 + its index in :data:`SCRIPTS`."""

REFUSAL_PATTERNS: tuple[str, ...] = (
    # English: apologetic or capability-based refusals, as chat models phrase them.
    r"\bI(?:['’]m| am) (?:sorry|afraid),? (?:but )?I (?:can(?:no|['’])t|won['’]t|am unable|['’]m unable)",
    r"\bI(?: can(?:no|['’])t| won['’]t| will not|(?: am|['’]m) (?:unable|not able) to)"
    r" (?:help|assist|comply|provide|answer|do that|fulfil|support|share|create|generate)",
    r"\bI must (?:decline|refuse)",
    r"\bas an AI(?: language model)?,? I (?:can(?:no|['’])t|am not|don['’]t|do not)",
    r"\b(?:this|that) (?:request )?(?:violates|goes against) (?:my|our) (?:guidelines|policies)",
    # Chinese: 抱歉/对不起 + inability, 我不能/无法 + help verbs, "as an AI".
    r"(?:抱歉|对不起|很遗憾)[，,、\s]*(?:但)?我(?:不能|无法|不可以|没办法)",
    r"我(?:不能|无法|不可以|没办法)(?:帮助|帮你|帮您|协助|提供|回答|满足|完成|生成)",
    r"作为(?:一个|一名)?(?:AI|人工智能)(?:语言模型|助手)?[，,]?\s*我(?:不能|无法|不会)",
    r"(?:违反|不符合)(?:我的|相关)?(?:政策|规定|准则)",
)
# Curly apostrophes are as common as straight ones in model output.
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)


def words(text: str) -> list[str]:
    """The lower-cased words of ``text`` (see :data:`WORD_PATTERN`)."""
    lowered = text.lower()
    # Fast path, same result: in ASCII letters and digits separated by spaces, the
    # pattern's words are exactly the space-separated runs (no "_", CJK or punctuation).
    if lowered.isascii() and lowered.replace(" ", "").isalnum():
        return lowered.split()
    return WORD_PATTERN.findall(lowered)


# Every refusal pattern contains one of these (lower-cased) substrings; testing them
# first skips the regex for the vast majority of texts, which is 5-10x faster.
ANCHORS: tuple[str, ...] = (
    "i can",
    "i won",
    "i will not",
    "unable",
    "not able",
    "i must",
    "sorry",
    "afraid",
    "as an ai",
    "violates",
    "goes against",
    "抱歉",
    "对不起",
    "很遗憾",
    "我不能",
    "我无法",
    "我不可以",
    "我没办法",
    "作为",
    "违反",
    "不符合",
)


def is_refusal(text: str) -> bool:
    """Whether ``text`` contains one of the English or Chinese refusal phrases."""
    lowered = text.lower().replace("’", "'")
    if not any(anchor in lowered for anchor in ANCHORS):
        return False
    return _REFUSAL.search(text) is not None


def script_labels(texts: Sequence[str]) -> list[str]:
    """The dominant script of each text: a :data:`SCRIPTS` label, or ``"none"``.

    Letters are counted per script over the whole chunk in one pass over its
    code points; a text with no letters (empty, digits, emoji) gets ``"none"``.
    """
    if not texts:
        return []
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4")
    return [SCRIPT_LABELS[code] for code in script_counts(points, lengths)]


SCRIPT_LABELS: tuple[str, ...] = (*SCRIPTS, NO_SCRIPT)
"""Labels by the codes :func:`script_counts` gives (the last one: no letters)."""


def script_counts(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per text, the index in :data:`SCRIPT_LABELS` of its dominant script.

    ``points`` are the code points of all texts, concatenated; ``lengths`` says
    how many belong to each text.
    """
    codes = np.zeros(points.shape[0], dtype=np.int64)
    bmp = points < 0x10000
    codes[bmp] = SCRIPT_TABLE[points[bmp]]
    # Supplementary planes: CJK extensions B-G are letters we can place; the rest
    # (emoji, symbols, historic scripts) do not decide a text's script.
    codes[(points >= 0x20000) & (points < 0x32000)] = SCRIPTS.index("cjk") + 1
    size = lengths.shape[0]
    rows = np.repeat(np.arange(size), lengths)
    width = len(SCRIPTS) + 1
    counts = np.bincount(rows * width + codes, minlength=size * width)
    counts = counts.reshape(size, width)[:, 1:]
    best: np.ndarray = np.where(counts.max(axis=1) > 0, counts.argmax(axis=1), len(SCRIPTS))
    return best
