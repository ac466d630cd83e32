"""Small inline SVG drawings: a sparkline and a layered lineage graph.

Plain SVG markup with every label escaped; no script, no external reference,
so the HTML report stays self-contained and safe to open offline.
"""

from __future__ import annotations

from html import escape

from lmops_core.reports.document import Graph, Series

_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 260, 28, 60, 14


def sparkline(series: Series, *, width: int = 240, height: int = 48) -> str:
    """A polyline of ``series`` scaled into a ``width`` x ``height`` box."""
    values = series.values
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(series.label)}">'
        f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="{points}"/>'
        f"</svg>"
    )


def lineage_graph(graph: Graph) -> str:
    """Boxes in one column per generation (ancestors left), arrows from parent to child."""
    columns: dict[int, list[str]] = {}
    for ref, gen in graph.nodes:
        columns.setdefault(gen, []).append(ref)
    gens = sorted(columns)
    pos: dict[str, tuple[int, int]] = {}
    for ci, gen in enumerate(gens):
        for ri, ref in enumerate(columns[gen]):
            pos[ref] = (10 + ci * (_BOX_W + _GAP_X), 10 + ri * (_BOX_H + _GAP_Y))
    width = 20 + len(gens) * (_BOX_W + _GAP_X) - _GAP_X
    height = 20 + max(len(c) for c in columns.values()) * (_BOX_H + _GAP_Y) - _GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">',
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
    ]
    for parent, child in graph.edges:
        if parent not in pos or child not in pos:
            continue
        (px, py), (cx, cy) = pos[parent], pos[child]
        parts.append(
            f'<line x1="{px + _BOX_W}" y1="{py + _BOX_H // 2}" x2="{cx}" '
            f'y2="{cy + _BOX_H // 2}" stroke="#555" marker-end="url(#arrow)"/>'
        )
    for ref, (x, y) in sorted(pos.items()):
        fill = "#fff3bf" if ref == graph.focus else "#f6f8fa"
        parts.append(
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="4" '
            f'fill="{fill}" stroke="#888"/>'
        )
        parts.append(
            f'<text x="{x + 6}" y="{y + 18}" font-size="12" '
            f'font-family="monospace">{escape(ref)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["lineage_graph", "sparkline"]
