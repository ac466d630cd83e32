"""What the re-scan of a redacted text reads, and where its findings lie in the output.

The re-scan counts the personal data left in a redacted text. What the
operators wrote (placeholders, digests, masks) must not be scanned, nor change
how the rest is read. :class:`RescanView` is the source text with every
redacted span blanked at its own width: character for character the text the
output holds outside what was written, whatever each operator wrote in its
place. Because a blanked span is as wide as the value it replaced, the view of
a sentence in which nothing was redacted, and the English NER's view of a text
in which only Han or pattern spans were redacted, are the very strings the first
pass read, and their NER results are reused (see ``PiiGuard``): the English NER
reads a redacted span of Han characters as spaces (:attr:`RescanView.latin`), as
it read those characters.

A finding in the view is mapped to the output: outside the redacted spans by
their change in length, inside one to its edge.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Spans = tuple[tuple[int, int], ...]


def union(spans: Iterable[tuple[int, int]]) -> Spans:
    """Sorted spans with overlapping and touching ones joined."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Han characters (CJK unified ideographs, extension A, compatibility), for a character class."""

_HAN_ONLY = re.compile(f"[{HAN_RANGES}]+")

#: What a blanked span is overwritten with. Not spaces: with the card number after it blanked
#: by spaces, spaCy's English NER read "Mastercard" in "My new Mastercard 5555 ... is not
#: working." as a PERSON, which it does not with the number there or with a run of ``#``. Not a letter or a
#: digit either, so it never makes a text look Latin or numeric to the pattern recognizers.
BLANK = "#"


def blank(text: str, spans: Sequence[tuple[int, int]], char: str = BLANK) -> str:
    """``text`` with ``spans`` (sorted, disjoint) overwritten by ``char``: offsets hold."""
    if not spans:
        return text
    parts: list[str] = []
    position = 0
    for start, end in spans:
        parts.append(text[position:start])
        parts.append(char * (end - start))
        position = end
    parts.append(text[position:])
    return "".join(parts)


@dataclass(frozen=True)
class RescanView:
    """The source text with its redacted spans blanked, and where those spans lie in the output."""

    text: str
    source: Spans
    """Redacted spans of the source text (joined where they touch)."""
    output: Spans
    """The same spans in the output: what the operators wrote there."""
    han: Spans = ()
    """The redacted spans holding only Han characters (a Chinese name): see :attr:`latin`."""

    @property
    def latin(self) -> str:
        """:attr:`text` as the English NER is to read it: the :attr:`han` spans are spaces.

        The English NER reads every Han character as a space
        (:func:`~lmops_presidio.prefilter.english_view`), so a sentence in which only Chinese
        names were redacted reads as it did in the first pass, and is not read again.
        """
        return blank(self.text, self.han, " ")

    def output_start(self, position: int) -> int:
        """Where a finding starting at ``position`` of :attr:`text` starts in the output."""
        index = bisect_right(self.source, (position, len(self.text) + 1)) - 1
        if index < 0:
            return position
        start, end = self.source[index]
        if position < end:
            return self.output[index][0]
        return self.output[index][1] + position - end

    def output_end(self, position: int) -> int:
        """Where a finding ending at ``position`` of :attr:`text` ends in the output."""
        index = bisect_left(self.source, (position, -1)) - 1
        if index < 0:
            return position
        start, end = self.source[index]
        if position <= end:
            return self.output[index][1]
        return self.output[index][1] + position - end


def rescan_view(
    source: str,
    redacted: Sequence[tuple[int, int]],
    output: str,
    written: Sequence[tuple[int, int]],
) -> RescanView | None:
    """The view of ``output`` (``source`` with ``redacted`` spans rewritten at ``written``).

    Each operator must have rewritten whole spans: the text between redacted
    spans must be the same in the source and the output. When it is not (a
    partial mask keeps part of the value visible), None: the caller then
    scans the output itself, with what was written blanked.
    """
    spans = union(redacted)
    places = union(written)
    if len(spans) != len(places):
        return None
    previous_source = previous_output = 0
    for (start, end), (first, last) in zip(spans, places, strict=True):
        if source[previous_source:start] != output[previous_output:first]:
            return None
        previous_source, previous_output = end, last
    if source[previous_source:] != output[previous_output:]:
        return None
    han = tuple((start, end) for start, end in spans if _HAN_ONLY.fullmatch(source, start, end))
    return RescanView(blank(source, spans), spans, places, han)
