"""The HTML report's plots draw in colour: shap's colours are written as plain numbers."""

from __future__ import annotations

import re

import numpy as np
import shap
from lmops_shap.report import ReportSection, _section, plain_numbers

_COLOUR = re.compile(r"rgba?\(([^)]*)\)")
_NUMBER = re.compile(r"\s*[-+]?\d+(\.\d+)?([eE][-+]?\d+)?\s*")


def test_plot_colours_are_css_numbers() -> None:
    explanation = shap.Explanation(
        values=np.array([0.5, -0.3, 0.1]),
        base_values=0.0,
        data=np.array(["Why ", "is ", "sky"], dtype=object),
    )
    section = ReportSection(
        title="p1",
        answer="blue",
        log_prob=-1.0,
        base_value=-2.0,
        top_tokens=[("Why ", 0, 0.5)],
        explanation=explanation,
        truncated=False,
    )
    markup = _section(1, section)
    colours = _COLOUR.findall(markup)
    assert colours, "the plot has no colours"
    assert "np." not in markup
    # Every channel is a bare number, or the browser draws the token black.
    assert all(_NUMBER.fullmatch(c) for colour in colours for c in colour.split(","))
    assert any(float(colour.split(",")[0]) == 255.0 for colour in colours)


def test_plain_numbers_leaves_other_text_alone() -> None:
    assert (
        plain_numbers("rgb(np.float64(255.0), np.float32(1e-3), np.int64(7))")
        == "rgb(255.0, 1e-3, 7)"
    )
    assert (
        plain_numbers("np.float64 is a type; np.float64(x) is not a number")
        == "np.float64 is a type; np.float64(x) is not a number"
    )
