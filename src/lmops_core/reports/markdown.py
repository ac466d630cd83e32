"""The report as Markdown (GitHub-flavoured tables, nested lists)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmops_core.reports.document import (
    ENGLISH,
    Block,
    Chrome,
    Document,
    Graph,
    Series,
    Table,
    Text,
    Tree,
    TreeNode,
)


def _text(value: str) -> str:
    # Plain text only: neutralise characters that would start markup or raw HTML, or end a
    # table cell (the pipe) or row (a line break) early. Underscores stay: inside words they
    # never emphasise, and metric names are full of them.
    out = value.replace("\\", "\\\\")
    for ch in "`*[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\r", " ").replace("\n", " ")


def _table(t: Table, chrome: Chrome) -> list[str]:
    lines = [f"*{_text(t.caption)}*", ""] if t.caption else []
    if not t.rows:
        return [*lines, chrome.none_recorded, ""]
    lines.append("| " + " | ".join(_text(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    lines.extend("| " + " | ".join(_text(c) for c in row) + " |" for row in t.rows)
    return [*lines, ""]


def _tree_lines(node: TreeNode, depth: int) -> list[str]:
    lines = ["  " * depth + f"- {_text(node.label)}"]
    for child in node.children:
        lines.extend(_tree_lines(child, depth + 1))
    return lines


def series_summary(s: Series) -> str:
    """``n points, first ..., last ..., min ... (at step k)``."""
    low = min(range(len(s.values)), key=lambda i: (s.values[i], i))
    return (
        f"{s.label}: {len(s.values)} points, first {s.values[0]:.6g}, last "
        f"{s.values[-1]:.6g}, min {s.values[low]:.6g} (at step {low + 1})"
    )


def _block(b: Block, chrome: Chrome = ENGLISH) -> list[str]:
    if isinstance(b, Text):
        return [_text(b.text), ""]
    if isinstance(b, Table):
        return _table(b, chrome)
    if isinstance(b, Tree):
        lines = [f"*{_text(b.caption)}*", ""]
        for root in b.roots:
            lines.extend(_tree_lines(root, 0))
        return [*lines, ""]
    if isinstance(b, Series):
        return [_text(series_summary(b)), ""]
    if isinstance(b, Graph):
        # The nested lists above already show the graph; list the edges for completeness.
        edges = [f"- {_text(p)} -> {_text(c)}" for p, c in b.edges]
        return ["*lineage edges (parent -> child)*", "", *edges, ""]
    raise TypeError(f"unknown block {type(b).__name__}")


def render_markdown(
    doc: Document,
    digest: str,
    audit_checkpoint: Mapping[str, Any] | None = None,
    chrome: Chrome = ENGLISH,
) -> str:
    """The whole document as Markdown, ending with its digest (and the audit checkpoint);
    ``chrome`` gives the words the renderer adds (English unless told)."""
    lines = [f"# {_text(doc.title)}", ""]
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        if not section.blocks:
            lines += [chrome.none_recorded, ""]
        for block in section.blocks:
            lines.extend(_block(block, chrome))
    lines += ["---", "", f"{chrome.digest} `{digest}`", ""]
    if audit_checkpoint is not None:
        lines += [
            f"Audit log checkpoint (signed, outside the digest): "
            f"`{checkpoint_line(audit_checkpoint)}`",
            "",
        ]
    return "\n".join(lines)


def checkpoint_line(checkpoint: Mapping[str, Any]) -> str:
    """The embedded audit checkpoint as one line of JSON (``lmops audit verify --checkpoint``
    accepts it once saved to a file)."""
    return json.dumps(dict(checkpoint), sort_keys=True, separators=(",", ":"))


__all__ = ["render_markdown", "series_summary"]
