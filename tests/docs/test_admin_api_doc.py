"""docs/admin-api.md's route table is the admin API's route table: same routes, rules and roles."""

from __future__ import annotations

import re
from pathlib import Path

from lmops_core.api import create_app
from lmops_core.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "admin-api.md"
_ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| (\w+) \| ([^|]+) \|$")


def documented() -> set[tuple[str, str, str, str]]:
    """``(method, path, rule, roles)`` for each row of the doc's table of routes."""
    rows = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m:
            rows.add((m[1], m[2], m[3], m[4].strip()))
    return rows


def served(tmp_path: Path) -> set[tuple[str, str, str, str]]:
    """The same rows, read from the app's routes and their access rules."""
    app = create_app(settings=Settings(home=tmp_path, load_entry_points=False))
    rows = set()
    for methods, path, rule in app.state.access.table(app.routes):
        assert rule is not None, f"{methods} {path} has no access rule"
        roles = "anyone" if rule.public else rule.describe()
        if methods == "MOUNT":
            rows.add(("GET", f"{path}/*", rule.name, roles))
            continue
        for method in methods.split(","):
            if method != "HEAD":
                rows.add((method, path, rule.name, roles))
    return rows


def test_the_route_table_matches_the_app(tmp_path: Path) -> None:
    doc, app = documented(), served(tmp_path)
    assert doc, f"no route table found in {DOC}"
    assert not app - doc, f"routes missing from docs/admin-api.md: {sorted(app - doc)}"
    assert not doc - app, f"documented routes the app does not have: {sorted(doc - app)}"


def test_every_route_has_an_endpoint_entry() -> None:
    text = DOC.read_text(encoding="utf-8").replace("{request_id}", "{id}")
    for method, path, _, _ in documented():
        if path.startswith("/api/"):
            short = path.replace("{request_id}", "{id}")
            assert f"`{method} {short}" in text, f"{method} {short} has no entry under Endpoints"
