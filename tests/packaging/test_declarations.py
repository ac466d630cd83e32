"""Every distribution in the repository declares what it imports, with SPDX licences and a core range.

Static checks that back the fresh-venv install tests (test_install_alone.py): those install the
plugins one after another into one venv, where a plugin could lean on a package another plugin
brought in; here each distribution's imports are matched against its own declared requirements.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from lmops_core import __version__
from lmops_core.extras import EXTRAS

REPO = Path(__file__).resolve().parents[2]
PLUGINS = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file())
FIXTURES = sorted(
    p for p in (REPO / "tests" / "fixtures").iterdir() if (p / "pyproject.toml").is_file()
)
DISTRIBUTIONS = [REPO, *PLUGINS, *FIXTURES]
TEMPLATE = REPO / "src" / "lmops_core" / "data" / "plugin_template" / "pyproject.toml.tmpl"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, f"unparsable requirement {requirement!r}"
    return _norm(match.group(0))


def _project(folder: Path) -> dict[str, object]:
    with open(folder / "pyproject.toml", "rb") as fh:
        return dict(tomllib.load(fh)["project"])


def _declared(project: dict[str, object]) -> set[str]:
    names = {_req_name(r) for r in project.get("dependencies", [])}  # type: ignore[attr-defined]
    for reqs in dict(project.get("optional-dependencies", {})).values():  # type: ignore[call-overload]
        names |= {_req_name(r) for r in reqs}
    return names


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True inside ``try: ... except ImportError`` or ``if TYPE_CHECKING:`` (optional imports)."""
    while node in parents:
        child, node = node, parents[node]
        if isinstance(node, ast.Try) and child in node.body:
            for handler in node.handlers:
                caught = ast.unparse(handler.type) if handler.type else "BaseException"
                if "ImportError" in caught or "ModuleNotFoundError" in caught:
                    return True
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(src: Path) -> dict[str, str]:
    """Top-level module of every unguarded absolute import under ``src`` -> first place seen."""
    found: dict[str, str] = {}
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            if _guarded(node, parents):
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


@cache
def _owners() -> dict[str, list[str]]:
    return dict(packages_distributions())


def _own_modules(src: Path) -> set[str]:
    return {p.name for p in src.iterdir() if (p / "__init__.py").is_file()}


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda p: p.name)
def test_every_import_is_a_declared_requirement(folder: Path) -> None:
    project = _project(folder)
    declared = _declared(project)
    src = folder / "src"
    owners = _owners()
    missing = []
    for module, where in sorted(_imports(src).items()):
        if module in _own_modules(src):
            continue
        if module.startswith("lmops_"):
            # Our own distributions follow the style rule: module lmops_x is distribution lmops-x.
            dists = {_norm("lmops-" + module[len("lmops_") :])}
        else:
            dists = {_norm(d) for d in owners.get(module, [])}
            assert dists, f"{where}: imports {module!r}, which no installed distribution provides"
        if not dists & declared:
            missing.append(
                f"{where}: imports {module!r} (from {sorted(dists)}) "
                f"but {project['name']} does not declare it"
            )
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda p: p.name)
def test_licence_is_an_spdx_string(folder: Path) -> None:
    # A TOML table (license = {text = ...}) makes setuptools print a deprecation warning.
    assert _project(folder).get("license") == "Apache-2.0"


def _core_range_holds(requirement: str) -> bool:
    match = re.fullmatch(r"lmops-core>=(\d+)\.(\d+),<(\d+)\.(\d+)", requirement.replace(" ", ""))
    assert match, f"{requirement!r} is not of the form lmops-core>=X.Y,<X.Y+1"
    low = (int(match.group(1)), int(match.group(2)))
    high = (int(match.group(3)), int(match.group(4)))
    current = tuple(int(x) for x in __version__.split(".")[:2])
    return low <= current < high


@pytest.mark.parametrize("folder", [*PLUGINS, *FIXTURES], ids=lambda p: p.name)
def test_plugins_depend_on_a_core_range_that_holds_this_core(folder: Path) -> None:
    deps = [
        r
        for r in _project(folder)["dependencies"]  # type: ignore[attr-defined]
        if _req_name(r) == "lmops-core"
    ]
    assert len(deps) == 1, f"{folder.name} must depend on lmops-core exactly once"
    assert _core_range_holds(deps[0]), f"{folder.name}: {deps[0]} excludes lmops-core {__version__}"


def test_plugin_template_depends_on_a_core_range_that_holds_this_core() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    deps = re.findall(r'"(lmops-core[^"]*)"', text)
    assert len(deps) == 1 and _core_range_holds(deps[0]), deps
    assert "license = {" not in text


def test_core_extras_match_the_modules_the_code_asks_for() -> None:
    extras = dict(_project(REPO)["optional-dependencies"])  # type: ignore[call-overload]
    owners = _owners()
    for extra, modules in EXTRAS.items():
        assert extra in extras, f"lmops_core.extras names [{extra}], pyproject.toml lacks it"
        declared = {_req_name(r) for r in extras[extra]}
        for module in modules:
            assert {_norm(d) for d in owners.get(module, [])} & declared, (extra, module)


def test_heavy_optional_parts_are_not_core_requirements() -> None:
    base = {_req_name(r) for r in _project(REPO)["dependencies"]}  # type: ignore[attr-defined]
    assert not base & {"pyarrow", "datasketch", "scipy", "numpy", "torch", "pandas"}
