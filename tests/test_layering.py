"""The core's layers call down through public names, never up through the facade.

Two scans of ``src/lmops_core``, by its syntax tree:

* no module uses a private (``_x``) name that another module of ours defines:
  neither ``from lmops_core.m import _x`` nor ``something._x`` where this
  module defines no ``_x`` of its own (an attribute of another module's class,
  or a module-level name of another module);
* the services below the SDK facade (the stage runner, governance, deploy,
  reports) never import :mod:`lmops_core.workspace`, not even for type hints:
  they take what they use.

Each allowed exception is listed with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lmops_core

SRC = Path(lmops_core.__file__).parent

#: (file, private name) pairs allowed, each with why.
ALLOWED_PRIVATE: set[tuple[str, str]] = set()
#: Modules below the facade that may still import the workspace, each with why.
ALLOWED_UP: set[str] = set()
#: The services below the SDK facade.
BELOW_FACADE = ("runner.py", "governance", "deploy", "reports", "annotation")


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
    ]


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_here(tree: ast.Module) -> set[str]:
    """Names this module defines: functions, classes, assigned names, its own attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _foreign_modules(tree: ast.Module) -> set[str]:
    """Local names bound to modules that are not ours (their privates are not our layers)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("lmops_core"):
                    out.add(alias.asname or alias.name.split(".")[0])
    return out


def private_uses(rel: str, tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, name)`` of each private name of another module that ``tree`` uses."""
    here = _defined_here(tree)
    foreign = _foreign_modules(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lmops_core"):
            found += [(node.lineno, a.name) for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls", *foreign):
                continue
            if node.attr not in here:
                found.append((node.lineno, node.attr))
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = [
        f"{rel}:{line}: {name}"
        for rel, tree in _modules()
        for line, name in private_uses(rel, tree)
        if (rel, name) not in ALLOWED_PRIVATE
    ]
    assert found == [], "private names used across modules:\n" + "\n".join(found)


def test_the_allow_list_has_no_stale_entries() -> None:
    used = {(rel, name) for rel, tree in _modules() for _, name in private_uses(rel, tree)}
    assert used >= ALLOWED_PRIVATE, sorted(ALLOWED_PRIVATE - used)


def _imports_workspace(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "lmops_core.workspace":
            return True
        if isinstance(node, ast.Import) and any(
            a.name == "lmops_core.workspace" for a in node.names
        ):
            return True
    return False


def test_services_below_the_facade_do_not_import_the_workspace() -> None:
    below = [
        (rel, tree)
        for rel, tree in _modules()
        if rel.split("/")[0] in BELOW_FACADE and rel not in ALLOWED_UP
    ]
    assert below, "the scan found none of the services it guards"
    up = [rel for rel, tree in below if _imports_workspace(tree)]
    assert up == [], f"these take the whole Workspace instead of what they use: {up}"


def test_the_scan_sees_a_private_call_into_another_module() -> None:
    tree = ast.parse(
        "from lmops_core.audit import chain\n"
        "from lmops_core.x import _y\n"
        "def f(gov):\n    return gov._evaluate(1), chain._refuse, _y\n"
        "class A:\n    def _own(self):\n        return self._own, A()._own\n"
    )
    assert sorted(private_uses("probe.py", tree)) == [(2, "_y"), (4, "_evaluate"), (4, "_refuse")]
    assert _imports_workspace(ast.parse("if True:\n    from lmops_core.workspace import W\n"))
