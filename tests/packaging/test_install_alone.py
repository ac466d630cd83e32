"""The core and each first-party plugin install alone from their own wheels in a fresh venv.

What is proven, and how:

* Wheels are built once from a copy of the repository (what ``pip install .`` and
  ``pip install plugins/lmops-X`` build).
* The core alone is installed with pip from the registry that ``scripts/setup.sh`` uses
  (pip's configured index), pinned by ``constraints.txt``, into a venv that has nothing else;
  then ``lmops --help``, a dataset register/list and ``lmops plugins`` run there, none of the
  heavy extras came along, and a Parquet file is refused with the extra to install.
* Each plugin goes into a fresh venv of its own: its wheel and the lmops wheels it requires are
  installed by pip (``--no-deps``, offline); its third-party requirements are walked from the
  wheel's metadata (versions, extras, markers) against the packages ``setup.sh`` installed from
  the same registry under the same constraints, and exactly that closure is linked into the venv,
  nothing more. ``pip check`` then passes there and ``lmops plugins`` lists the plugin, so its
  declared requirements are enough to load it. Plugins import their ML libraries only when an
  operation runs; that every import is declared is checked in ``test_declarations.py``. Downloading torch and friends again per plugin
  would take many minutes; the registry's ability to serve the pinned set is what ``setup.sh``
  proves each run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from importlib.metadata import Distribution, PackageNotFoundError, distribution
from pathlib import Path
from typing import cast

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints.txt"
PLUGINS = sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file())
HEAVY = {"pyarrow", "datasketch", "scipy", "numpy", "pandas", "torch"}
pytestmark = pytest.mark.slow


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _clean_env() -> dict[str, str]:
    """This environment without what would let the venv see the test's own packages."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LMOPS_") and k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }


def _run(
    *cmd: str | Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        env=_clean_env() if env is None else env,
        timeout=timeout,
        check=False,
    )


def _pip(venv: Path, *args: str | Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """pip of the test's own environment acting on ``venv`` (the venv itself has no pip)."""
    return _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv / "bin" / "python",
        "--disable-pip-version-check",
        *args,
        timeout=timeout,
    )


def _venv(path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, env=_clean_env()
    )
    return path


def _site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def _lmops_env(home: Path) -> dict[str, str]:
    return {**_clean_env(), "LMOPS_HOME": str(home)}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Distribution name -> wheel, built once from a clean copy (no stale build/ folders)."""
    work = tmp_path_factory.mktemp("wheels")
    src = work / "src"
    junk = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*")
    shutil.copytree(REPO / "src", src / "src", ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for plugin in PLUGINS:
        shutil.copytree(
            plugin,
            src / "plugins" / plugin.name,
            ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"),
        )
    out = work / "out"
    out.mkdir()
    # setuptools' PEP 517 backend called directly, all projects at once: what pip runs, in a
    # third of the processes (pip wheel spends most of its time starting helpers).
    build = "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])"
    projects = [src, *(src / "plugins" / p.name for p in PLUGINS)]
    running = [
        (
            p,
            subprocess.Popen(
                [sys.executable, "-c", build, str(out)],
                cwd=p,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_clean_env(),
            ),
        )
        for p in projects
    ]
    for project, proc in running:
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"building {project.name} failed:\n{output}"
        assert "Warning" not in output, f"building {project.name} warned:\n{output}"
    return {_norm(w.name.split("-")[0]): w for w in out.glob("*.whl")}


def _installed_names(venv: Path) -> set[str]:
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    )
    listed = _run(venv / "bin" / "python", "-c", code)
    assert listed.returncode == 0, listed.stderr
    return {_norm(n) for n in json.loads(listed.stdout)}


def test_the_core_installs_alone_and_runs(wheels: dict[str, Path], tmp_path: Path) -> None:
    venv = _venv(tmp_path / "venv")
    installed = _pip(
        venv,
        "install",
        "--quiet",
        "--no-compile",
        "-c",
        CONSTRAINTS,
        wheels["lmops-core"],
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    names = _installed_names(venv)
    assert "lmops-core" in names
    assert not names & HEAVY, f"the core alone pulled heavy packages: {sorted(names & HEAVY)}"
    assert not any(n.startswith("lmops-") and n != "lmops-core" for n in names)
    checked = _pip(venv, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    lmops = venv / "bin" / "lmops"
    env = _lmops_env(tmp_path / "home")
    helped = _run(lmops, "--help", env=env)
    assert helped.returncode == 0 and "Usage: lmops" in helped.stdout, helped.stderr
    data = REPO / "examples" / "data" / "instructions.jsonl"
    registered = _run(
        lmops,
        "datasets",
        "register",
        "instructions",
        data,
        "--shape",
        "instruction",
        "--json",
        env=env,
    )
    assert registered.returncode == 0, registered.stdout + registered.stderr
    listed = _run(lmops, "datasets", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "instructions" in listed.stdout
    plugins = _run(lmops, "plugins", "--json", env=env)
    assert plugins.returncode == 0, plugins.stderr
    sources = {p["source"] for p in json.loads(plugins.stdout)["plugins"]}
    assert sources == {"builtin"}, sources

    # Parquet needs the [parquet] extra; the refusal says so and registers nothing.
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "notes.parquet"
    pq.write_table(pa.table({"text": ["hello"]}), parquet)
    refused = _run(lmops, "datasets", "register", "notes", parquet, "--shape", "text", env=env)
    assert refused.returncode != 0
    assert "lmops-core[parquet]" in refused.stdout + refused.stderr, refused.stdout + refused.stderr
    after = _run(lmops, "datasets", "list", "--json", env=env)
    assert "notes" not in after.stdout


def _wheel_requirements(wheel: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        message = Parser().parsestr(zf.read(meta).decode("utf-8"))
    return message["Name"], message.get_all("Requires-Dist") or []


def _closure(dist: str, wheels: dict[str, Path]) -> tuple[list[Path], dict[str, Distribution]]:
    """The lmops wheels and the installed third-party distributions ``dist`` needs, recursively.

    Each requirement must be met by the version installed here (the constraints.txt pins).
    """
    lmops: dict[str, Path] = {}
    third: dict[str, Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[str, str, str]] = [(dist, "", "(tested)")]
    base_env = cast(dict[str, str], dict(default_environment()))
    while todo:
        name, extra, why = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        if name.startswith("lmops-"):
            assert name in wheels, f"{why} requires {name}, which the repository does not build"
            lmops[name] = wheels[name]
            _, requires = _wheel_requirements(wheels[name])
        else:
            try:
                found = distribution(name)
            except PackageNotFoundError:
                raise AssertionError(
                    f"{why} requires {name}, which setup.sh did not install"
                ) from None
            third[name] = found
            requires = found.requires or []
        for text in requires:
            req = Requirement(text)
            if req.marker and not req.marker.evaluate({**base_env, "extra": extra}):
                continue
            dep = _norm(req.name)
            if not dep.startswith("lmops-"):
                try:
                    version = distribution(dep).version
                except PackageNotFoundError:
                    raise AssertionError(f"{name} requires {text!r}: not installed") from None
                assert req.specifier.contains(version, prereleases=True), (
                    f"{name} requires {text!r} but the pinned version is {version}"
                )
            for wanted in ("", *sorted(req.extras)):
                todo.append((dep, _norm(wanted) if wanted else "", name))
    return list(lmops.values()), third


def _link(dists: dict[str, Distribution], site: Path) -> None:
    """Link each distribution's installed files into ``site``, sharing namespace folders."""
    owners: dict[tuple[str, ...], set[str]] = {}
    roots: dict[str, Path] = {}
    for name, dist in dists.items():
        files = dist.files
        assert files is not None, f"{name} has no RECORD; cannot tell its files"
        roots[name] = Path(str(dist.locate_file("")))
        for f in files:
            parts = f.parts
            if parts[0] in {"..", "__pycache__"} or (len(parts) > 1 and parts[0] == "bin"):
                continue
            for depth in range(1, len(parts) + 1):
                owners.setdefault(parts[:depth], set()).add(name)

    def place(prefix: tuple[str, ...]) -> None:
        children = sorted({k for k in owners if len(k) == len(prefix) + 1 and k[:-1] == prefix})
        for child in children:
            claim = owners[child]
            target = site.joinpath(*child)
            if len(claim) == 1:
                source = roots[next(iter(claim))].joinpath(*child)
                if source.exists():
                    target.symlink_to(source)
            else:
                target.mkdir()
                place(child)

    place(())


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_each_plugin_installs_alone_and_is_listed(
    plugin: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    with open(plugin / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    dist = _norm(project["name"])
    lmops_wheels, third = _closure(dist, wheels)
    assert wheels["lmops-core"] in lmops_wheels
    assert not any(n.startswith("nvidia-") for n in third), "a CUDA build of torch is pinned"
    if "torch" in third:
        assert third["torch"].version.endswith("+cpu"), third["torch"].version

    venv = _venv(tmp_path / "venv")
    installed = _pip(
        venv, "install", "--quiet", "--no-compile", "--no-deps", "--no-index", *lmops_wheels
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    _link(third, _site_packages(venv))
    assert _installed_names(venv) == {*third, *(_norm(w.name.split("-")[0]) for w in lmops_wheels)}
    checked = _pip(venv, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    env = _lmops_env(tmp_path / "home")
    listed = _run(venv / "bin" / "lmops", "plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    names = {p["name"] for p in json.loads(listed.stdout)["plugins"]}
    assert dist in names, f"{dist} is not listed by lmops plugins: {sorted(names)}"
