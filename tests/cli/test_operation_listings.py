"""`lmops plugins -v` and `lmops stage STAGE OP --help` list what operations and kinds declare."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lmops_core.cli import app


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "COLUMNS": "200",
    }


def test_plugins_verbose_lists_operations_and_evidence_kinds(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plugins", "-v"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    out = result.output
    assert (
        "data_preparation dedup-near (plugin lmops-core:data_steps): Remove near-duplicates "
        "by MinHash LSH"
    ) in out
    assert "    --input dataset=dataset:NAME@VERSION" in out
    assert (
        "    --param threshold=<float> (default 0.8): Jaccard similarity of word shingles "
        "at or above which records are duplicates"
    ) in out
    assert "    --param fields=<list[str] | None> (default None): fields compared" in out
    assert "  evidence recorded: data_step" in out
    assert "  bundle (plugin lmops-core:evidence_kinds): A signed deployment bundle" in out
    assert "    * records_removed: integer [records]" in out
    assert "      size_bytes: integer [bytes], lower is better" in out


def test_plugins_lists_the_model_runtimes_guards_and_serving_targets_plugins_register(
    tmp_path: Path,
) -> None:
    # The installed first-party plugins (entry points on) register all three.
    env = {"LMOPS_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["plugins", "-v"], env=env)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "model runtimes (by the model kind they open):" in out
    assert (
        "  adapter (plugin lmops-hf): transformers causal LM on CPU (merged into its base "
        "on load)\n    engine transformers; can generate, score; needs a base model (input "
        'role "base")\n'
    ) in out
    assert (
        "  onnx-int8 (plugin lmops-onnx): exported causal LM in an ONNX Runtime session\n"
        "    engine onnxruntime; can generate\n"
    ) in out
    assert "guards:\n  pii (plugin lmops-presidio): personal data found and redacted" in out
    assert "serving targets:\n  in-process (plugin lmops-serve): " in out
    assert "\n  local (plugin lmops-serve): lmops serve-model" in out

    listed = CliRunner().invoke(app, ["plugins", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    assert body["failures"] == []
    plugins = {p["name"]: p for p in body["plugins"]}
    assert plugins["lmops-hf"]["model_runtimes"] == ["adapter", "base", "full", "merged"]
    assert plugins["lmops-onnx"]["model_runtimes"] == ["onnx", "onnx-int8"]
    assert plugins["lmops-presidio"]["guards"] == ["pii"]
    assert plugins["lmops-serve"]["serving_targets"] == ["in-process", "local"]
    core = plugins["lmops-core:data_steps"]
    assert (core["model_runtimes"], core["guards"], core["serving_targets"]) == ([], [], [])
    assert [r["kind"] for r in body["model_runtimes"]] == [
        "adapter",
        "base",
        "full",
        "merged",
        "onnx",
        "onnx-int8",
    ]
    assert body["model_runtimes"][0] == {
        "kind": "adapter",
        "plugin": "lmops-hf",
        "engine": "transformers",
        "needs_base": True,
        "capabilities": ["generate", "score"],
        "description": "transformers causal LM on CPU (merged into its base on load)",
    }
    assert [(g["name"], g["plugin"]) for g in body["guards"]] == [("pii", "lmops-presidio")]
    assert [(t["name"], t["plugin"]) for t in body["serving_targets"]] == [
        ("in-process", "lmops-serve"),
        ("local", "lmops-serve"),
    ]
    assert all(
        set(t) == {"name", "plugin", "description"} and t["description"]
        for t in body["guards"] + body["serving_targets"]
    )


def test_plugins_verbose_says_when_nothing_is_registered(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plugins", "-v"], env=_env(tmp_path))  # built-ins only
    assert result.exit_code == 0, result.output
    assert (
        "model runtimes (by the model kind they open):\n  none registered\n\nguards:\n"
        "  none registered\n\nguard configuration kinds:\n  none registered\n\n"
        "serving targets:\n  none registered\n"
    ) in result.stdout


def test_stage_operation_help_describes_the_operation(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["stage", "data_preparation", "length-filter", "--help"], env=_env(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert (
        "data_preparation length-filter (plugin lmops-core:data_steps): Keep records with "
        "min_chars <= total text length <= max_chars."
    ) in result.output
    assert "--param min_chars=<int> (default 1): shortest total text kept" in result.output


def test_stage_help_alone_and_missing_arguments(tmp_path: Path) -> None:
    alone = CliRunner().invoke(app, ["stage", "--help"], env=_env(tmp_path))
    assert alone.exit_code == 0 and "Run a plugin's operation" in alone.output
    missing = CliRunner().invoke(app, ["stage", "data_preparation"], env=_env(tmp_path))
    assert missing.exit_code == 2 and "OPERATION" in missing.output
    unknown = CliRunner().invoke(
        app, ["stage", "data_preparation", "nope", "--help"], env=_env(tmp_path)
    )
    assert unknown.exit_code != 0
    assert 'no data preparation operation named "nope"' in unknown.output
