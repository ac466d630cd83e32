"""`lmops plugins -v` and `lmops stage STAGE OP --help` list what operations and kinds declare."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lmops_core.cli import app


def _env(tmp_path: Path) -> dict[str, str]:
    return {"LMOPS_HOME": str(tmp_path / "home"), "LMOPS_LOAD_ENTRY_POINTS": "false",
            "COLUMNS": "200"}


def test_plugins_verbose_lists_operations_and_evidence_kinds(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plugins", "-v"], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    out = result.output
    assert ("data_preparation dedup-near (plugin lmops-core:data_steps): Remove near-duplicates "
            "by MinHash LSH") in out
    assert "    --input dataset=dataset:NAME@VERSION" in out
    assert ("    --param threshold=<float> (default 0.8): Jaccard similarity above which "
            "records are duplicates") in out
    assert "  evidence recorded: data_step" in out
    assert "  bundle (plugin lmops-core:evidence_kinds): A signed deployment bundle" in out
    assert "    * records_removed: integer [records]" in out
    assert "      size_bytes: integer [bytes], lower is better" in out


def test_stage_operation_help_describes_the_operation(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stage", "data_preparation", "length-filter", "--help"],
                                env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert ("data_preparation length-filter (plugin lmops-core:data_steps): Keep records with "
            "min_chars <= total text length <= max_chars.") in result.output
    assert "--param min_chars=<int> (default 1): shortest total text kept" in result.output


def test_stage_help_alone_and_missing_arguments(tmp_path: Path) -> None:
    alone = CliRunner().invoke(app, ["stage", "--help"], env=_env(tmp_path))
    assert alone.exit_code == 0 and "Run a plugin's operation" in alone.output
    missing = CliRunner().invoke(app, ["stage", "data_preparation"], env=_env(tmp_path))
    assert missing.exit_code == 2 and "OPERATION" in missing.output
    unknown = CliRunner().invoke(app, ["stage", "data_preparation", "nope", "--help"],
                                 env=_env(tmp_path))
    assert unknown.exit_code != 0
    assert 'no data preparation operation named "nope"' in unknown.output
