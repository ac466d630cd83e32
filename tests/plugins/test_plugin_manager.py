"""Loading plugins: built-ins, a real third-party distribution, allow/deny, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lmops_core.contracts import Stage
from lmops_core.errors import PluginError
from lmops_core.plugins import load_plugins
from lmops_core.settings import Settings
from tests.conftest import run_python

ACME = "lmops-acme-toxicity"


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(home=tmp_path, **kw)  # type: ignore[arg-type]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    lmops = Path(sys.executable).with_name("lmops")
    return subprocess.run(
        [str(lmops), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_builtins_register_through_the_same_hooks(tmp_path: Path) -> None:
    host = load_plugins(_settings(tmp_path, load_entry_points=False))
    names = [p.name for p in host.plugins]
    assert names[:3] == [
        "lmops-core:local_storage",
        "lmops-core:evidence_kinds",
        "lmops-core:data_steps",
    ]
    assert set(host.operations[Stage.DATA_PREPARATION]) == {
        "dedup-exact",
        "dedup-near",
        "length-filter",
    }
    assert host.operations[Stage.DATA_PREPARATION]["dedup-exact"].plugin == "lmops-core:data_steps"
    assert "dataset_card" in host.evidence_kinds


def test_third_party_distribution_is_discovered(tmp_path: Path) -> None:
    host = load_plugins(_settings(tmp_path))
    info = next(p for p in host.plugins if p.name == ACME)
    assert info.version == "1.2.3" and info.source == "entry point"
    assert set(info.hooks) == {
        "register_commands",
        "register_evaluators",
        "register_evidence_kinds",
        "register_policy_checks",
    }
    assert host.operations[Stage.EVALUATION]["acme-toxicity"].plugin == ACME
    assert host.evidence_kinds["acme_toxicity"].plugin == ACME
    assert host.policy_checks["acme.is_low"].value.function(0.01) is True


def test_lmops_plugins_lists_it_with_version_and_hooks() -> None:
    result = _cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert listed[ACME]["version"] == "1.2.3"
    assert "evaluation:acme-toxicity" in listed[ACME]["operations"]
    assert "register_evaluators" in listed[ACME]["hooks"]


def test_plugin_cli_command_is_added() -> None:
    result = _cli("acme-hello")
    assert result.returncode == 0 and result.stdout.strip() == "hello from acme"


def test_broken_distribution_is_named_and_skipped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist = site / "lmops_broken-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lmops-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[lmops]\nbroken = lmops_broken\n")
    (site / "lmops_broken.py").write_text("import presidio_analyzer_not_installed\n")
    env = {"PYTHONPATH": str(site), "LMOPS_HOME": str(tmp_path / "home")}
    result = _cli("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert {
        "name": "lmops-broken",
        "reason": "No module named 'presidio_analyzer_not_installed'",
    } in body["failures"]
    assert any(p["name"] == ACME for p in body["plugins"])  # the rest keep working
    tour = _cli("init", env=env)
    assert tour.returncode == 0
    assert (
        "Error loading plugin \"lmops-broken\": No module named 'presidio_analyzer_not_installed'"
    ) in tour.stderr


def test_env_plugin_import_failure_is_reported(tmp_path: Path) -> None:
    host = load_plugins(
        _settings(tmp_path, load_entry_points=False, plugins=["no_such_module_xyz"])
    )
    assert [str(f) for f in host.failures] == [
        "Error loading plugin \"no_such_module_xyz\": No module named 'no_such_module_xyz'"
    ]


#: A plugin file that registers a string where an operation belongs.
NOT_AN_OPERATION = """
    from lmops_core import hookimpl

    @hookimpl
    def register_trainers(register):
        register("not an operation")
"""


def _plugin_file(tmp_path: Path, name: str, source: str) -> str:
    """Write ``source`` (any indent) as the plugin file ``name``.py; return its path."""
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(textwrap.dedent(source))
    return str(plugin)


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        (
            "typo_plugin",
            """
            from lmops_core import hookimpl

            @hookimpl
            def register_evaluaters(register):
                pass
            """,
            "register_evaluaters",
        ),
        (
            "dup_plugin",
            """
            from lmops_core import hookimpl
            from lmops_core.builtins.data_steps import ExactDedup

            @hookimpl
            def register_data_steps(register):
                register(ExactDedup())
            """,
            'both register an operation named "dedup-exact"',
        ),
        ("bad_reg", NOT_AN_OPERATION, 'plugin "bad_reg" registered .* it is not an Operation'),
    ],
    ids=["misspelled-hook", "duplicate-operation-name", "not-an-operation"],
)
def test_a_bad_plugin_file_is_an_error_naming_the_fault(
    tmp_path: Path, name: str, source: str, message: str
) -> None:
    plugin = _plugin_file(tmp_path, name, source)
    with pytest.raises(PluginError, match=message):
        load_plugins(_settings(tmp_path, load_entry_points=False, plugins=[plugin]))


def test_artifact_backend_is_chosen_by_uri_scheme(tmp_path: Path) -> None:
    from lmops_core.errors import ConfigurationError
    from lmops_core.workspace import Workspace

    plugin = _plugin_file(
        tmp_path,
        "vault_backend",
        """
        from pathlib import Path
        from lmops_core import hookimpl
        from lmops_core.artifacts.local import LocalArtifactBackend

        @hookimpl
        def lmops_artifact_backend(uri, settings):
            if uri.startswith("vault://"):
                return LocalArtifactBackend(settings.home / "vault", uri=uri)
            return None
        """,
    )
    ws = Workspace.open(
        _settings(
            tmp_path / "a",
            load_entry_points=False,
            plugins=[plugin],
            artifact_uri="vault://team-a",
        )
    )
    assert ws.artifacts.uri == "vault://team-a"
    assert ws.artifacts.put_bytes(b"x").digest.startswith("sha256:")
    assert (tmp_path / "a" / "vault" / "blobs").is_dir()
    ws.close()
    with pytest.raises(
        ConfigurationError, match="no installed plugin serves the artifact URI 's3://bucket'"
    ):
        Workspace.open(
            _settings(tmp_path / "b", load_entry_points=False, artifact_uri="s3://bucket")
        )


def test_deployment_targets_register_for_the_deployment_stage(tmp_path: Path) -> None:
    plugin = _plugin_file(
        tmp_path,
        "deployer",
        """
        from lmops_core import hookimpl, StageResult

        class Bundle:
            name = "zip-bundle"
            description = "package a model"
            def run(self, context):
                return StageResult()

        @hookimpl
        def register_deployment_targets(register):
            register(Bundle())
        """,
    )
    host = load_plugins(_settings(tmp_path, load_entry_points=False, plugins=[plugin]))
    assert host.operation(Stage.DEPLOYMENT, "zip-bundle").plugin == "deployer"
    with pytest.raises(PluginError, match='no deployment operation named "helm"'):
        host.operation(Stage.DEPLOYMENT, "helm")


def test_loading_every_installed_plugin_imports_no_heavy_library(tmp_path: Path) -> None:
    # Every lmops command loads all plugins: they must import ML libraries only when they run.
    code = textwrap.dedent("""
        import sys
        from lmops_core.plugins import load_plugins
        from lmops_core.settings import Settings
        host = load_plugins(Settings())
        heavy = ["torch", "transformers", "evidently", "presidio_analyzer", "onnxruntime",
                 "shap", "lm_eval", "spacy", "pandas", "peft", "trl", "sklearn"]
        print([m for m in heavy if m in sys.modules], [str(f) for f in host.failures],
              sorted(p.name for p in host.plugins if p.source == "entry point"))
    """)
    out = run_python(code, env={**os.environ, "LMOPS_HOME": str(tmp_path)})
    heavy, failures, plugins = _parse_three_lists(out.stdout)
    assert heavy == [] and failures == []
    for first_party in (
        "lmops-evidently",
        "lmops-hf",
        "lmops-lm-eval",
        "lmops-onnx",
        "lmops-presidio",
        "lmops-safety",
        "lmops-serve",
        "lmops-shap",
    ):
        assert first_party in plugins


def _parse_three_lists(text: str) -> tuple[list[str], list[str], list[str]]:
    import ast

    node = ast.parse("(" + text.strip().replace("] [", "], [") + ")", mode="eval")
    value = ast.literal_eval(node.body)
    return value[0], value[1], value[2]


def test_deferred_registrations_are_collected_and_checked_on_first_use(tmp_path: Path) -> None:
    plugin = _plugin_file(tmp_path, "late_reg", NOT_AN_OPERATION)
    host = load_plugins(
        _settings(tmp_path, load_entry_points=False, plugins=[plugin]), registrations=False
    )
    assert "late_reg" in [p.name for p in host.plugins]  # loaded, its hooks not yet called
    with pytest.raises(PluginError, match='plugin "late_reg" registered .* not an Operation'):
        _ = host.operations


def test_deferred_registrations_equal_eager_ones(tmp_path: Path) -> None:
    settings = _settings(tmp_path, load_entry_points=False)
    eager, lazy = load_plugins(settings), load_plugins(settings, registrations=False)
    assert {s: set(t) for s, t in lazy.operations.items()} == {
        s: set(t) for s, t in eager.operations.items()
    }
    assert set(lazy.evidence_kinds) == set(eager.evidence_kinds)
    assert set(lazy.policy_checks) == set(eager.policy_checks)
