"""Pack lint: every clause mapped to rules that exist; errors name file, line and clause."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.compliance import lint_pack, load_pack, render_pack_schema
from lmops_core.errors import PolicyError
from tests.compliance.conftest import CN_PACK

PACK = """\
apiVersion: lmops/v1
kind: CompliancePack
id: tiny
version: "1"
language: en
title: Tiny
standard: TEST-1
rules:
  - name: accuracy
    applies_to: {asset: model, transition: production}
    evidence: [{kind: eval}]
    conditions:
      - {name: acc, expr: evidence.eval.metrics.acc >= 0.5}
clauses:
  - id: "1.1"
    title: Accuracy is shown
    rules: [accuracy]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["cn-tc260-003", "sr-11-7", "eu-ai-act"])
def test_every_shipped_pack_is_clean(name: str) -> None:
    assert lint_pack(CN_PACK.with_name(f"{name}.yaml")) == []


def test_a_clause_mapped_to_no_rule_is_an_error_naming_file_line_and_clause(
    tmp_path: Path,
) -> None:
    text = PACK + '  - id: "1.2"\n    title: Nothing shows this\n'
    path = _write(tmp_path, text)
    [issue] = lint_pack(path)
    assert issue.severity == "error"
    assert issue.line == 18
    assert str(issue) == f"{path}:18: error: clause '1.2' is mapped to no rule"
    with pytest.raises(PolicyError, match="clause '1.2' is mapped to no rule"):
        load_pack(path)


def test_an_empty_pack_file_is_called_a_pack_file(tmp_path: Path) -> None:
    [issue] = lint_pack(_write(tmp_path, "# nothing here\n"))
    assert issue.severity == "error" and issue.line == 1
    assert issue.message == "pack file is empty"


def test_a_clause_naming_a_missing_rule_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, PACK.replace("rules: [accuracy]", "rules: [accuracy, safety]"))
    [issue] = lint_pack(path)
    assert str(issue) == (
        f"{path}:17: error: clause '1.1' names rule 'safety', which the pack lacks "
        "(rules: accuracy)"
    )


def test_a_rule_no_clause_names_is_a_warning_and_the_pack_still_loads(tmp_path: Path) -> None:
    extra = (
        "  - name: spare\n    applies_to: {asset: model, transition: production}\n"
        "    evidence: [{kind: safety}]\n"
    )
    path = _write(tmp_path, PACK.replace("clauses:\n", extra + "clauses:\n"))
    [issue] = lint_pack(path)
    assert (issue.severity, issue.rule, issue.line) == ("warning", "spare", 14)
    assert load_pack(path).id == "tiny"


def test_unknown_keys_and_bad_cel_are_located(tmp_path: Path) -> None:
    path = _write(tmp_path, PACK.replace("title: Tiny", "title: Tiny\ntitel: typo"))
    [issue] = lint_pack(path)
    assert (issue.line, issue.message) == (7, "unknown key 'titel'")
    path = _write(tmp_path, PACK.replace(">= 0.5}", ">= }"))
    [issue] = lint_pack(path)
    assert (issue.line, issue.rule, issue.condition) == (13, "accuracy", "acc")


def test_the_published_schema_is_generated_and_current() -> None:
    committed = (CN_PACK.parents[2] / "docs" / "pack-schema.json").read_text(encoding="utf-8")
    assert committed == render_pack_schema(), "run write_pack_schema(docs/pack-schema.json)"
