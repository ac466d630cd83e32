"""Checks of one rule against what the workspace knows: roles and evidence-kind metrics.

Loading a policy checks its schema and compiles its CEL; these checks need the
context loading lacks (the roles approvals can ask for, the metrics each
evidence kind declares). ``lmops policy lint`` reports them, and the evaluator
turns each error into a blocking verdict naming the rule, so a typo in a role
or a metric can never let a promotion through or leave it waiting forever.

Metric checks use what :class:`~lmops_core.contracts.EvidenceKind` declares: a
kind that declares no metrics is not checked, and a declared name may be a
``fnmatch`` pattern (``"*.acc"``) for kinds whose metric names vary.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from lmops_core.policy.cel_eval import CompiledExpression
from lmops_core.policy.cel_types import result_type
from lmops_core.policy.issues import LintIssue, Severity
from lmops_core.policy.model import Rule

#: ``kind -> {metric name or pattern: type name}``, from registered evidence kinds (a
#: :class:`~lmops_core.contracts.Metric`, or anything with a ``type``, stands for its type).
MetricDeclarations = Mapping[str, Mapping[str, Any]]

_METRIC_READ_RE = re.compile(
    r"(?<![\w.])(?:(?:production|current)\s*\.\s*)?evidence\s*\.\s*([A-Za-z_]\w*)\s*\.\s*"
    r"metrics\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*(?:'([^'\\]*)'|\"([^\"\\]*)\")\s*\])"
)
_STRING_RE = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")


def rule_issues(
    *,
    file: str,
    rule: Rule,
    expressions: Mapping[str, CompiledExpression],
    rule_line: int | None = None,
    condition_lines: Mapping[str, int] | None = None,
    roles: Collection[str] | None = None,
    metrics: MetricDeclarations | None = None,
) -> Iterator[LintIssue]:
    """Unknown approval roles, non-boolean conditions and undeclared metric reads."""
    if roles is not None:
        for approval in rule.approvals:
            if approval.role not in roles:
                yield LintIssue(
                    file,
                    f"approval role {approval.role!r} does not exist (roles: {', '.join(roles)})",
                    rule_line,
                    "error",
                    rule.name,
                )
    declared = {
        kind: {name: _type_name(t) for name, t in m.items()} for kind, m in (metrics or {}).items()
    }
    for condition in rule.conditions:
        compiled = expressions.get(condition.name)
        if compiled is None:
            continue
        line = (condition_lines or {}).get(condition.name, rule_line)

        def issue(
            message: str,
            severity: Severity = "error",
            name: str = condition.name,
            at: int | None = line,
        ) -> LintIssue:
            return LintIssue(file, message, at, severity, rule.name, name)

        typ = result_type(compiled.source, lambda k, m: _declared_type(declared, k, m))
        if typ is not None and typ != "bool":
            yield issue(f"condition evaluates to {typ}, not a bool (compare it, e.g. '... >= 0.5')")
        yield from (
            issue(message, severity)
            for message, severity in _metric_issues(compiled.source, declared)
        )


def _metric_issues(
    source: str, declared: dict[str, dict[str, str]]
) -> Iterator[tuple[str, Severity]]:
    # Text inside string literals is not a read; blank it out (same length, positions kept).
    code = _STRING_RE.sub(
        lambda m: m.group()[0] + " " * (len(m.group()) - 2) + m.group()[-1], source
    )
    seen: set[tuple[str, str]] = set()
    for match in _METRIC_READ_RE.finditer(code):
        kind = match.group(1)
        start, end = match.span()
        metric = match.group(2) or _bracket_key(source[start:end])
        if (kind, metric) in seen or not declared.get(kind):
            continue
        seen.add((kind, metric))
        if _declared_type(declared, kind, metric) is not None:
            continue
        names = ", ".join(sorted(declared[kind]))
        guarded = re.search(rf"has\(\s*{re.escape(source[start:end])}\s*\)", source)
        if guarded:
            yield (
                f"reads metric {metric!r}, which evidence kind {kind!r} does not declare "
                f"(declared: {names}); guarded by has(), so it may simply be absent",
                "warning",
            )
        else:
            yield (
                f"reads metric {metric!r}, which evidence kind {kind!r} never records "
                f"(declared: {names})",
                "error",
            )


def _type_name(declared: Any) -> str:
    return declared if isinstance(declared, str) else str(declared.type)


def _bracket_key(text: str) -> str:
    inner = text[text.rindex("[") + 1 : text.rindex("]")].strip()
    return inner[1:-1]


def _declared_type(declared: Mapping[str, Mapping[str, str]], kind: str, metric: str) -> str | None:
    names = declared.get(kind) or {}
    if metric in names:
        return names[metric]
    for pattern, typ in names.items():
        if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(metric, pattern):
            return typ
    return None
