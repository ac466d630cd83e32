"""Reading a compliance pack: YAML with line numbers, schema validation, the clause lint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from lmops_core.compliance.model import Clause, PackDocument
from lmops_core.digests import digest_bytes
from lmops_core.policy.cel_eval import CompiledExpression
from lmops_core.policy.issues import LintIssue, policy_error
from lmops_core.policy.loader import (
    MatchedRule,
    compile_rules,
    file_bytes,
    format_loc,
    line_for,
    matched_rule,
    schema_loc,
    validated_document,
)


@dataclass(frozen=True)
class CompliancePack:
    """A loaded pack whose clauses all map to rules that exist, conditions compiled."""

    path: Path
    digest: str
    document: PackDocument
    expressions: Mapping[tuple[str, str], CompiledExpression]
    rule_lines: Mapping[str, int]

    @property
    def id(self) -> str:
        """The pack's ``id``."""
        return self.document.id

    @property
    def clauses(self) -> list[Clause]:
        """The clauses, in the order an assessor reads them."""
        return self.document.clauses

    def matched_rules(self) -> list[MatchedRule]:
        """Every rule of the pack, as the policy engine judges it."""
        return [
            matched_rule(
                self.path,
                self.digest,
                self.id,
                rule,
                self.expressions,
                self.rule_lines.get(rule.name),
            )
            for rule in self.document.rules
        ]


def load_pack(path: Path | str) -> CompliancePack:
    """Load a pack; a :class:`PolicyError` lists every error with its file and line."""
    pack, issues = read_pack(Path(path))
    if pack is None or any(issue.severity == "error" for issue in issues):
        raise policy_error(issues)
    return pack


def lint_pack(path: Path | str) -> list[LintIssue]:
    """Every problem of the pack file at ``path``: errors first, then warnings."""
    _, issues = read_pack(Path(path))
    return sorted(issues, key=lambda i: (i.severity != "error", i.line or 0))


def read_pack(path: Path) -> tuple[CompliancePack | None, list[LintIssue]]:
    """The pack at ``path`` (``None`` when it cannot be read) and every issue found."""
    file = str(path)
    raw, issues = file_bytes(path, "pack")
    if raw is None:
        return None, issues
    parsed, issues = validated_document(raw, file, "pack", PackDocument, _schema_issue)
    if parsed is None:
        return None, issues
    root, document = parsed
    expressions, issues = compile_rules(file, root, document.rules)
    rule_lines = {rule.name: line_for(root, ("rules", i)) for i, rule in enumerate(document.rules)}
    issues += _mapping_issues(file, root, document)
    pack = CompliancePack(path, digest_bytes(raw), document, expressions, rule_lines)
    return pack, issues


def _mapping_issues(file: str, root: Node, document: PackDocument) -> list[LintIssue]:
    """Every clause maps to a rule that exists and asks for evidence or a sign-off."""
    rules = {rule.name: rule for rule in document.rules}
    used: set[str] = set()
    issues: list[LintIssue] = []
    for i, clause in enumerate(document.clauses):
        where = f"clause {clause.id!r}"
        if not clause.rules:
            line = line_for(root, ("clauses", i))
            issues.append(LintIssue(file, f"{where} is mapped to no rule", line))
        for j, name in enumerate(clause.rules):
            line = line_for(root, ("clauses", i, "rules", j))
            rule = rules.get(name)
            if rule is None:
                have = ", ".join(sorted(rules)) or "none"
                issues.append(
                    LintIssue(
                        file,
                        f"{where} names rule {name!r}, which the pack lacks (rules: {have})",
                        line,
                    )
                )
            elif not (rule.evidence or rule.conditions or rule.approvals):
                issues.append(
                    LintIssue(
                        file,
                        f"{where}: rule {name!r} asks for no evidence, condition "
                        "or approval, so it shows nothing",
                        line,
                        rule=name,
                    )
                )
            used.add(name)
    for i, rule in enumerate(document.rules):
        if rule.name not in used:
            line = line_for(root, ("rules", i))
            message = "no clause names this rule"
            issues.append(LintIssue(file, message, line, "warning", rule.name))
    return issues


def _schema_issue(file: str, root: Node, data: Any, error: Any) -> LintIssue:
    del data  # a pack's errors name no rule, so the data is not read
    loc = schema_loc(error)
    if error["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
        message = f"{format_loc(loc) or 'top level'}: {reason}"
    return LintIssue(file, message, line_for(root, loc))


__all__ = ["CompliancePack", "lint_pack", "load_pack", "read_pack"]
