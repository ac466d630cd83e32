"""The report as one self-contained HTML page: inline CSS and SVG, no script, no links out."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from lmops_core.reports import document
from lmops_core.reports.markdown import checkpoint_line, series_summary
from lmops_core.reports.svg import lineage_graph, sparkline

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#1f2328}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#f6f8fa}caption{text-align:left;font-style:italic;padding:.2em 0}"
    "h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em}code{font-size:.9em}"
    "details{margin:.5em 0 1em}summary{cursor:pointer;font-style:italic}"
    # Drawings shrink to the page (the viewBox keeps their proportions), never overflow it.
    "figure{margin:.5em 0}figure svg{max-width:100%;height:auto}"
    ".none{color:#6e7781;font-style:italic}"
)


#: Tables longer than this (raw metric dumps) are folded away under their caption, except in
#: the verdict, which a reviewer reads first and whole.
FOLD_ROWS = 8
_UNFOLDED = frozenset({"verdict"})


def _table(
    t: document.Table, *, fold: bool = False, chrome: document.Chrome = document.ENGLISH
) -> str:
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    if not t.rows:
        head = f"<p><em>{escape(t.caption)}</em></p>" if t.caption else ""
        return f'{head}<p class="none">{escape(chrome.none_recorded)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in t.rows
    )
    table = f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if fold and t.caption and len(t.rows) > FOLD_ROWS:
        return (
            f"<details><summary>{escape(t.caption)} ({escape(chrome.rows.format(n=len(t.rows)))})"
            f"</summary>{table}</details>"
        )
    return table


def _tree(node: document.TreeNode) -> str:
    kids = "".join(_tree(c) for c in node.children)
    return f"<li>{escape(node.label)}" + (f"<ul>{kids}</ul>" if kids else "") + "</li>"


def _block(
    b: document.Block, *, fold: bool = False, chrome: document.Chrome = document.ENGLISH
) -> str:
    if isinstance(b, document.Text):
        return f"<p>{escape(b.text)}</p>"
    if isinstance(b, document.Table):
        return _table(b, fold=fold, chrome=chrome)
    if isinstance(b, document.Tree):
        roots = "".join(_tree(r) for r in b.roots)
        return f"<p><em>{escape(b.caption)}</em></p><ul>{roots}</ul>"
    if isinstance(b, document.Series):
        return f"<p>{escape(series_summary(b))}</p><figure>{sparkline(b)}</figure>"
    if isinstance(b, document.Graph):
        return f"<figure>{lineage_graph(b)}</figure>"
    raise TypeError(f"unknown block {type(b).__name__}")


def render_html(
    doc: document.Document,
    digest: str,
    audit_checkpoint: Mapping[str, Any] | None = None,
    chrome: document.Chrome = document.ENGLISH,
) -> str:
    """The whole document as an HTML page, ending with its digest (and the audit checkpoint);
    ``chrome`` gives the page language and the words the renderer adds (English unless told)."""
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(chrome.lang)}"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{escape(doc.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(doc.title)}</h1>",
    ]
    for section in doc.sections:
        parts.append(f'<section id="{escape(section.key)}"><h2>{escape(section.title)}</h2>')
        if not section.blocks:
            parts.append(f'<p class="none">{escape(chrome.none_recorded)}</p>')
        fold = section.key not in _UNFOLDED
        parts.extend(_block(b, fold=fold, chrome=chrome) for b in section.blocks)
        parts.append("</section>")
    parts.append(f"<hr><p>{escape(chrome.digest)} <code>{escape(digest)}</code></p>")
    if audit_checkpoint is not None:
        parts.append(
            "<p>Audit log checkpoint (signed, outside the digest): "
            f'<code id="audit-checkpoint">{escape(checkpoint_line(audit_checkpoint))}'
            "</code></p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


__all__ = ["FOLD_ROWS", "render_html"]
