"""The sweep's HTML report: Optuna's own plots, written offline with plotly.js embedded."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any


def write_report(study: Any, path: Path, *, title: str, summary: list[tuple[str, str]]) -> Path:
    """One self-contained HTML file (no CDN, no network): a summary table, the optimisation
    history, the intermediate values (loss curves, pruned trials included), the parameter
    importances and the slice plot. A plot Optuna cannot draw yet (importances need two
    finished trials) is replaced by a sentence saying why."""
    import plotly.io as pio  # type: ignore[import-untyped]
    from optuna import visualization as vis

    plots = [
        ("Optimisation history", vis.plot_optimization_history),
        ("Loss curves (intermediate values)", vis.plot_intermediate_values),
        ("Parameter importances", vis.plot_param_importances),
        ("Objective by parameter", vis.plot_slice),
    ]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "</head><body style='font-family:sans-serif'>",
        f"<h1>{html.escape(title)}</h1><table>",
        *(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in summary
        ),
        "</table>",
    ]
    js_done = False
    for heading, plot in plots:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        try:
            figure = plot(study)
        except (ValueError, RuntimeError) as exc:  # too few finished trials for this plot
            parts.append(f"<p>not drawn: {html.escape(str(exc))}</p>")
            continue
        # plotly.js (about 3.5 MB) embedded once, in the first figure: the file works offline.
        parts.append(pio.to_html(figure, full_html=False, include_plotlyjs=not js_done))
        js_done = True
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
