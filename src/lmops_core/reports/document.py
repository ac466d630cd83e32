"""The format-neutral document a report is made of: sections of typed blocks.

Markdown and HTML are both rendered from this one structure, and the report
digest is taken over its canonical JSON, so the two formats can never say
different things and the digest does not depend on markup details.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

#: Text shown in place of an empty section or table.
NONE_RECORDED = "none recorded"


@dataclass(frozen=True)
class Chrome:
    """The words a renderer adds around a document (the document's own words are its own):
    the page language, the empty-table text, the digest line's label, a folded table's row
    count."""

    lang: str = "en"
    none_recorded: str = NONE_RECORDED
    digest: str = "Report digest:"
    rows: str = "{n} rows"


#: The renderers' words in English (every report but a pack report in another language).
ENGLISH = Chrome()


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells; ``rows`` keep the order they were built in."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class TreeNode:
    """One item of a nested list, with its children."""

    label: str
    children: tuple[TreeNode, ...] = ()


@dataclass(frozen=True)
class Tree:
    """A nested list (the lineage, read from the version outwards)."""

    caption: str
    roots: tuple[TreeNode, ...]


@dataclass(frozen=True)
class Graph:
    """A lineage graph: nodes placed in columns by generation, edges parent -> child."""

    nodes: tuple[tuple[str, int], ...]  # (ref, generation: <0 ancestors, 0 self, >0 descendants)
    edges: tuple[tuple[str, str], ...]  # (parent, child)
    focus: str


@dataclass(frozen=True)
class Series:
    """A numeric series (a loss curve): summarised in text, drawn as a sparkline in HTML."""

    label: str
    values: tuple[float, ...]


Block = Text | Table | Tree | Graph | Series


@dataclass(frozen=True)
class Section:
    """A titled section; an empty one is rendered as "none recorded"."""

    key: str
    title: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True)
class ReportSection:
    """A section a plugin adds to the validation report (``lmops_report_sections``).

    ``key`` is unique in the report (prefix it with your plugin's name if in
    doubt); ``after`` is the key of the core section it follows (one of
    :data:`~lmops_core.reports.sections.SECTIONS`); several sections after the
    same one are ordered by key. Empty ``blocks`` render as "none recorded".
    """

    key: str
    title: str
    blocks: tuple[Block, ...] = ()
    after: str = "evaluation"


@dataclass(frozen=True)
class Document:
    """The whole report: a title and its sections, in a fixed order."""

    title: str
    subject: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def canonical_json(self) -> bytes:
        """Sorted-key JSON of the document, with each block's type named."""

        def tagged(section: Section) -> dict[str, object]:
            return {
                "key": section.key,
                "title": section.title,
                "blocks": [{"type": type(b).__name__, **asdict(b)} for b in section.blocks],
            }

        body = {
            "title": self.title,
            "subject": self.subject,
            "sections": [tagged(s) for s in self.sections],
        }
        return json.dumps(
            body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=True
        ).encode("utf-8")

    def digest(self) -> str:
        """``sha256:<hex>`` of :meth:`canonical_json`."""
        return "sha256:" + hashlib.sha256(self.canonical_json()).hexdigest()


__all__ = [
    "ENGLISH",
    "NONE_RECORDED",
    "Block",
    "Chrome",
    "Document",
    "Graph",
    "ReportSection",
    "Section",
    "Series",
    "Table",
    "Text",
    "Tree",
    "TreeNode",
]
