"""`lmops guards register|list|show` and `lmops bundle create --guard` from the shell."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Shell

GUARD = "name: retail-assistant\npii: {mode: block}\nrefusals: {categories: [weapons]}\n"


def _file(tmp_path: Path, text: str, name: str = "guard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_register_list_and_show_a_guard(shell: Shell, tmp_path: Path) -> None:
    shell.env["LMOPS_PLUGINS"] = "lmops_serve.plugin"  # checks GuardConfig documents
    path = _file(tmp_path, GUARD)
    first = shell.json("guards", "register", "retail", str(path), "--risk-tier", "high")
    assert (first["ref"], first["config_kind"], first["risk_tier"]) == (
        "guard:retail@1",
        "GuardConfig",
        "high",
    )
    looser = _file(tmp_path, GUARD.replace("block", "redact"), "looser.yaml")
    registered = shell.ok("guards", "register", "retail", str(looser)).stdout
    assert "registered guard:retail@2 (GuardConfig retail-assistant, sha256:" in registered
    [listed] = shell.json("guards", "list")
    assert (listed["name"], listed["latest_version"], listed["risk_tier"]) == ("retail", 2, "high")
    shown = shell.json("guards", "show", "retail@2")
    assert shown["version"]["digest"] != first["digest"]
    assert shown["lineage"] == [
        {
            "child": "guard:retail@2",
            "parent": "guard:retail@1",
            "relation": "revises",
            "run_id": None,
        }
    ]
    assert "config_name: retail-assistant" in shell.ok("guards", "show", "retail@1").stdout


def test_a_bad_file_or_a_missing_plugin_is_refused_naming_it(shell: Shell, tmp_path: Path) -> None:
    bad = _file(tmp_path, GUARD.replace("block", "drop"))
    refused = shell("guards", "register", "retail", str(bad))  # nothing checks GuardConfig
    assert refused.exit_code != 0
    assert 'no plugin checks guard configurations of kind "GuardConfig"' in refused.output
    shell.env["LMOPS_PLUGINS"] = "lmops_serve.plugin"
    refused = shell("guards", "register", "retail", str(bad))
    assert refused.exit_code != 0 and f"{bad}: pii.mode: Input should be" in refused.output
    assert shell.json("guards", "list") == []


def test_bundle_create_refuses_a_guard_version_not_approved_for_the_stage(
    governed: Shell, tmp_path: Path
) -> None:
    governed.env["LMOPS_PLUGINS"] = "lmops_serve.plugin"
    governed.ok("guards", "register", "retail", str(_file(tmp_path, GUARD)), who="eng")
    out = tmp_path / "bundle"
    refused = governed(
        "bundle", "create", "chat@1", "--stage", "production", "--out", str(out),
        "--guard", "retail@1", who="eng",
    )  # fmt: skip
    assert refused.exit_code != 0, refused.output
    assert "guard version guard:retail@1 is not approved for production" in refused.output
    assert not out.exists()
