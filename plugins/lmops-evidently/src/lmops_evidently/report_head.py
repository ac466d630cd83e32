"""A heading for Evidently's HTML reports: what was compared and what was decided.

Evidently writes a page with no document title and no word of which model or
windows it is about. A reviewer who opens the artifact from a request page
needs both before the charts, so the monitor puts a ``<title>`` and a short
heading (the model, the two windows, the verdict) into the saved page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from lmops_core.errors import StageError

_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)
_BODY = re.compile(r"<body(\s[^>]*)?>", re.IGNORECASE)
_STYLE = (
    "font-family:system-ui,sans-serif;margin:0;padding:16px 24px;"
    "border-bottom:1px solid #ccc;background:#fafafa;color:#111"
)


@dataclass(frozen=True)
class Window:
    """One window of a comparison: the dataset version, its rows and the rows analysed."""

    ref: str
    rows: int
    analyzed: int

    def describe(self) -> str:
        """``dataset:logs@2 (1,500 rows)``, saying so when only a sample was analysed."""
        text = f"{self.ref} ({self.rows:,} rows"
        if self.analyzed != self.rows:
            text += f", {self.analyzed:,} sampled"
        return text + ")"


@dataclass(frozen=True)
class Heading:
    """What a drift report is about and what it found, as its page shows it first."""

    kind: str
    model: str | None
    reference: Window
    current: Window
    drifted: bool
    finding: str

    @property
    def verdict(self) -> str:
        """``DRIFT`` or ``no drift``."""
        return "DRIFT" if self.drifted else "no drift"

    @property
    def title(self) -> str:
        """The page's ``<title>``: the kind, the subject and the verdict."""
        subject = self.model or self.current.ref
        return f"{self.kind} of {subject}: {self.verdict}"

    def html(self) -> str:
        """The heading block, every value escaped."""
        model = escape(self.model) if self.model else "none (windows compared on their own)"
        css = "drift" if self.drifted else "no-drift"
        colour = "#b00020" if self.drifted else "#1b5e20"
        return (
            f'<header id="lmops-drift-heading" style="{_STYLE}">'
            f'<h1 style="margin:0 0 8px;font-size:20px">{escape(self.kind)}</h1>'
            '<dl style="display:grid;grid-template-columns:max-content auto;gap:4px 16px;margin:0">'
            f'<dt>Model</dt><dd style="margin:0" id="lmops-model">{model}</dd>'
            f'<dt>Reference window</dt><dd style="margin:0" id="lmops-reference">'
            f"{escape(self.reference.describe())}</dd>"
            f'<dt>Current window</dt><dd style="margin:0" id="lmops-current">'
            f"{escape(self.current.describe())}</dd>"
            f'<dt>Verdict</dt><dd style="margin:0" id="lmops-verdict" class="{css}">'
            f'<strong style="color:{colour}">{self.verdict}</strong>: {escape(self.finding)}</dd>'
            "</dl></header>"
        )


def headed(page: str, heading: Heading, name: str = "the page") -> str:
    """Evidently's ``page`` with ``heading``'s title, and the heading first in its body."""
    head, body = _HEAD.search(page), _BODY.search(page)
    if head is None or body is None or body.start() < head.end():
        raise StageError(f"{name}: Evidently's page has no <head> and <body> to head")
    title = f"<title>{escape(heading.title)}</title>"
    return (
        page[: head.end()]
        + title
        + page[head.end() : body.end()]
        + heading.html()
        + page[body.end() :]
    )


__all__ = ["Heading", "Window", "headed"]
