"""docs/policies.md says what the shipped policy files enforce, and its example file loads."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from lmops_core.policy import load_policies

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "policies.md"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "gen_policy_docs", REPO / "scripts" / "gen_policy_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_summary_of_the_shipped_policies_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text == _generator().updated(text), (
        "docs/policies.md disagrees with policies/*.yaml: run scripts/gen_policy_docs.py"
    )


def test_the_summary_shows_every_threshold_of_the_files() -> None:
    summary = _generator().render()
    for path in (REPO / "policies").glob("*.yaml"):
        for number in re.findall(r"(?:>=|<=|==) (\d+\.\d+|\d+)", path.read_text()):
            assert number in summary, f"{path.name}: {number} missing from the summary"


def test_the_file_format_example_is_a_valid_policy(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    example = text.split("## File format", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    policies = load_policies(tmp_path)
    rules = policies.select("model", "standard", "production")
    assert [r.rule.name for r in rules] == ["model-production-standard"]
