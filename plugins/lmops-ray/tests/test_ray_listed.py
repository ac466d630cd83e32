"""lmops-ray is found through its entry point and listed by `lmops plugins`."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import listed_plugins


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    listed = listed_plugins(tmp_path / "home")["lmops-ray"]
    assert "register_data_engines" in listed["hooks"]
