"""The fast path of ``words`` gives exactly what the word pattern gives."""

from __future__ import annotations

import pytest
from lmops_evidently.text import WORD_PATTERN, words

TEXTS = [
    "Hello World 42",
    "the model answers  questions ",
    " leading and trailing spaces ",
    "snake_case words",
    "tab\tseparated",
    "line\nbreak",
    "Hello, World!",
    "I'm sorry, but I can't help with that.",
    "café au lait",
    "GPU 很快",
    "你好世界",
    "ABC DEF",
    "",
    "   ",
    "x",
]


@pytest.mark.parametrize("text", TEXTS)
def test_words_equal_the_pattern(text: str):
    assert words(text) == WORD_PATTERN.findall(text.lower())


def test_plain_ascii_words_are_split_on_spaces():
    assert words("Explain  why THE 3 trains") == ["explain", "why", "the", "3", "trains"]
