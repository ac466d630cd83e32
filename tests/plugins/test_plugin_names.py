"""Attacks on the plugin allow and deny lists: spelling variants and other ways in.

Names are compared normalised (PEP 503) and the lists apply to entry points and
to every form of ``LMOPS_PLUGINS`` (module paths, submodules, ``.py`` files).
A plugin that gets through writes a marker file when imported, so "not loaded"
means "not even imported".
"""

from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

import pytest

from lmops_core.plugins import load_plugins, normalise_name
from lmops_core.settings import Settings
from tests.conftest import run_python

ACME_DIST = "lmops-acme-toxicity"


def _plugin_package(root: Path, marker: Path) -> str:
    """A package ``lmops_<id>`` with a ``plugin`` submodule; importing either writes ``marker``."""
    name = f"lmops_gate_{uuid.uuid4().hex[:8]}"
    pkg = root / name
    pkg.mkdir(parents=True)
    body = textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
    """)
    (pkg / "__init__.py").write_text(body)
    (pkg / "plugin.py").write_text(body)
    return name


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(home=tmp_path / "home", load_entry_points=False, **kw)  # type: ignore[arg-type]


def test_normalise_name_follows_pep_503() -> None:
    for variant in ("lmops_x", "LMOPS-X", "Lmops.X", "lmops__x", "lmops-._x", " lmops-x "):
        assert normalise_name(variant) == "lmops-x"


def _variants(module: str) -> list[str]:
    dashed = module.replace("_", "-")
    return [
        module,
        module.upper(),
        dashed,
        dashed.upper(),
        module.replace("_", "."),
        module.replace("_", "__"),
        module.replace("_", "-_."),
    ]


@pytest.mark.parametrize("index", range(7))
def test_deny_variants_block_a_module_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: int
) -> None:
    marker = tmp_path / "imported"
    name = _plugin_package(tmp_path / "site", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for spec in (name, f"{name}.plugin"):
        host = load_plugins(
            _settings(tmp_path, plugins=[spec], plugins_deny=[_variants(name)[index]])
        )
        assert not marker.exists(), f"deny {_variants(name)[index]!r} let {spec} import"
        assert all(p.source != "LMOPS_PLUGINS" for p in host.plugins)


def test_deny_variants_block_a_plugin_file(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    plugin = tmp_path / "lmops_filegate.py"
    plugin.write_text(f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n")
    for deny in (
        "lmops_filegate",
        "LMOPS-FILEGATE",
        "lmops.filegate",
        "lmops_filegate.py",
        str(plugin),
    ):
        load_plugins(_settings(tmp_path, plugins=[str(plugin)], plugins_deny=[deny]))
        assert not marker.exists(), f"deny {deny!r} let {plugin} import"


def test_allow_list_is_normalised_and_excludes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    name = _plugin_package(tmp_path / "site", marker)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    load_plugins(_settings(tmp_path, plugins=[name], plugins_allow=["some-other-plugin"]))
    assert not marker.exists()
    # The control: the same plugin, allowed under another spelling, does load.
    host = load_plugins(
        _settings(tmp_path, plugins=[name], plugins_allow=[name.upper().replace("_", "-")])
    )
    assert marker.exists()
    assert any(p.source == "LMOPS_PLUGINS" for p in host.plugins)


_PROBE = textwrap.dedent("""
    import sys
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import Settings
    host = load_plugins(Settings())
    print(any("acme" in p.name for p in host.plugins), "lmops_acme_toxicity" in sys.modules)
""")


def _probe(tmp_path: Path, env: dict[str, str]) -> list[str]:
    return run_python(_PROBE, env={**os.environ, "LMOPS_HOME": str(tmp_path), **env}).stdout.split()


@pytest.mark.parametrize(
    "deny",
    [
        "lmops_acme_toxicity",
        "LMOPS-ACME-TOXICITY",
        "Lmops.Acme_Toxicity",
        "acme_toxicity",
        "ACME.TOXICITY",
    ],
)
def test_deny_variants_block_an_entry_point(tmp_path: Path, deny: str) -> None:
    assert _probe(tmp_path, {"LMOPS_PLUGINS_DENY": deny}) == ["False", "False"]


@pytest.mark.parametrize(
    "env",
    [
        {"LMOPS_PLUGINS_DENY": ACME_DIST},
        {"LMOPS_PLUGINS_DENY": "acme-toxicity"},
        {"LMOPS_PLUGINS_ALLOW": "some-other-plugin"},
    ],
)
def test_disallowed_plugin_is_not_even_imported(env: dict[str, str], tmp_path: Path) -> None:
    assert _probe(tmp_path, env) == ["False", "False"]


@pytest.mark.parametrize("deny", [ACME_DIST, "lmops_acme_toxicity", "LMOPS.ACME.TOXICITY"])
def test_denied_distribution_cannot_come_back_through_lmops_plugins(
    tmp_path: Path, deny: str
) -> None:
    env = {
        "LMOPS_PLUGINS_DENY": deny,
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_PLUGINS": "lmops_acme_toxicity",
    }
    assert _probe(tmp_path, env) == ["False", "False"]


def test_control_the_entry_point_loads_when_not_denied(tmp_path: Path) -> None:
    assert _probe(tmp_path, {"LMOPS_PLUGINS_DENY": "something-else"}) == ["True", "True"]
