"""lmops_report_sections: a plugin's sections are checked, and a broken plugin is named."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from lmops_core import hookimpl
from lmops_core.errors import PluginError
from lmops_core.reports import ReportSection, render_report
from lmops_core.reports.blocks import Text
from lmops_core.testing.helpers import copy_migrated_store
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings


def _report_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, returned: Any) -> str:
    module = types.ModuleType("section_plugin")

    @hookimpl
    def lmops_report_sections(facts: Any) -> Any:
        if isinstance(returned, Exception):
            raise returned
        return returned

    module.lmops_report_sections = lmops_report_sections  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "section_plugin", module)
    home = tmp_path / "home"
    copy_migrated_store(home)
    with Workspace.open(make_settings(home, plugins=["section_plugin"])) as ws:
        ref = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
        return render_report(ws, ref).markdown


def test_sections_follow_their_anchor_ordered_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    md = _report_with(
        tmp_path,
        monkeypatch,
        [
            ReportSection(key="zeta", title="Zeta", after="identity"),
            ReportSection(
                key="alpha", title="Alpha", blocks=(Text("alpha text"),), after="identity"
            ),
        ],
    )
    titles = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert titles[:5] == ["Verdict", "Identity and lineage", "Alpha", "Zeta", "Evidence summary"]
    assert "alpha text" in md
    assert "## Zeta\n\nnone recorded" in md


@pytest.mark.parametrize(
    ("returned", "says"),
    [
        (
            RuntimeError("boom"),
            'plugin "section_plugin" failed in lmops_report_sections: RuntimeError: boom',
        ),
        ("text", "returned str from lmops_report_sections"),
        (
            [ReportSection(key="policy", title="Mine")],
            'section key "policy" is already used by the core',
        ),
        (
            [ReportSection(key="x", title="X", after="nowhere")],
            'follows "nowhere", which is not a core section',
        ),
        ([ReportSection(key="x", title="X", blocks=("raw",))], "not a report block"),  # type: ignore[arg-type]
    ],
)
def test_a_broken_section_fails_the_report_naming_the_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, returned: Any, says: str
) -> None:
    with pytest.raises(PluginError) as caught:
        _report_with(tmp_path, monkeypatch, returned)
    assert says in caught.value.message
