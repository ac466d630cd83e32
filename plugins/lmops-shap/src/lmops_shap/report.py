"""One self-contained HTML file a reviewer can open: shap's text plots, one per prompt.

Each section holds shap's own interactive text plot (``shap.plots.text(...,
display=False)``, inline SVG and script, no external resources), the greedy
answer that was explained, and a table of the top tokens. Everything shown
has already been redacted by the caller.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
.meta td:first-child { font-weight: 600; }
.answer { background: #f5f5f5; padding: .5rem; white-space: pre-wrap; }
.plot { border: 1px solid #eee; padding: .5rem; overflow-x: auto; }
"""


@dataclass(frozen=True)
class ReportSection:
    """What the report shows for one prompt (already redacted)."""

    title: str
    answer: str
    log_prob: float
    base_value: float
    top_tokens: Sequence[tuple[str, int, float]]
    explanation: Any
    truncated: bool


# NumPy 2 scalars print as ``np.float64(255.0)``; shap formats its colours with them, and a
# browser reads ``rgb(np.float64(255.0), ...)`` as no colour at all (everything draws black).
_NUMPY_SCALAR = re.compile(r"np\.(?:float(?:16|32|64)|int(?:8|16|32|64))\(([-+0-9.eE]+)\)")


def plain_numbers(markup: str) -> str:
    """``markup`` with every printed NumPy scalar (``np.float64(1.5)``) written as ``1.5``."""
    return _NUMPY_SCALAR.sub(r"\1", markup)


def _meta_table(meta: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in meta.items()
    )
    return f'<table class="meta">{rows}</table>'


def _section(index: int, section: ReportSection) -> str:
    import shap

    plot = plain_numbers(shap.plots.text(section.explanation, display=False))
    rows = "".join(
        f"<tr><td>{position}</td><td><code>{html.escape(token)}</code></td>"
        f"<td>{value:+.4f}</td></tr>"
        for token, position, value in section.top_tokens
    )
    note = " (prompt truncated to the token limit)" if section.truncated else ""
    return (
        f"<section><h2>{index}. {html.escape(section.title)}{note}</h2>"
        f'<p>Greedy answer explained:</p><div class="answer">{html.escape(section.answer)}</div>'
        f"<p>log p(answer | prompt) = {section.log_prob:.4f}; with every prompt token masked "
        f"(base value) = {section.base_value:.4f}.</p>"
        f'<div class="plot">{plot}</div>'
        f"<table><tr><th>position</th><th>token</th><th>SHAP value</th></tr>{rows}</table>"
        "</section>"
    )


def write_report(
    path: Path, *, title: str, meta: Mapping[str, Any], sections: Sequence[ReportSection]
) -> Path:
    """Write the HTML report to ``path`` and return it."""
    body = "".join(_section(i, s) for i, s in enumerate(sections, start=1))
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        "<p>Each token of a prompt gets a SHAP value: how much it raised (red, positive) or "
        "lowered (blue, negative) the log-probability of the answer the model gave. Values of "
        "a prompt add up to the difference between the full prompt's log-probability and the "
        "base value. Click a token in a plot to see its value.</p>"
        f"{_meta_table(meta)}{body}</body></html>"
    )
    path.write_text(document, encoding="utf-8")
    return path
