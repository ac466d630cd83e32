"""Checking policy files beyond what loading enforces: likely mistakes and gaps."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import cel
from cel.stdlib import add_stdlib_to_context

from lmops_core.policy.cel_eval import CORE_FUNCTIONS, TYPE_NAMES, VARIABLES, bound_names
from lmops_core.policy.issues import LintIssue, Severity
from lmops_core.policy.loader import Policy, policy_files, read_policies
from lmops_core.policy.model import RISK_TIERS
from lmops_core.policy.rule_checks import MetricDeclarations, rule_issues

# `evidence.x` read directly, not `production.evidence.x`.
_EVIDENCE_READ_RE = re.compile(r"(?<![.\w])evidence\s*\.\s*([A-Za-z_]\w*)")


def lint(
    paths: Iterable[Path | str],
    *,
    functions: Iterable[str] = (),
    evidence_kinds: Iterable[str] | MetricDeclarations | None = None,
    roles: Iterable[str] | None = None,
) -> list[LintIssue]:
    """Every error and warning in the given policy files and folders.

    ``functions`` names the plugin functions that will be available, and
    ``evidence_kinds`` (when given) the evidence kinds plugins registered, so
    expressions calling or reading anything else are reported. Given as a
    mapping ``kind -> {metric: type}``, reads of metrics a kind does not declare
    are errors too (for kinds that declare metrics). ``roles`` (when given) are
    the roles approvals may require.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(policy_files(path) if path.is_dir() else [path])
    policies, issues = read_policies(files)
    known_functions = _known_functions(functions)
    kinds = set(evidence_kinds) if evidence_kinds is not None else None
    metrics = evidence_kinds if isinstance(evidence_kinds, Mapping) else None
    known_roles = tuple(roles) if roles is not None else None
    for policy in policies:
        issues.extend(_policy_issues(policy, known_functions, kinds))
        for rule in policy.rules:
            issues.extend(
                rule_issues(
                    file=str(policy.path),
                    rule=rule,
                    expressions={
                        c.name: policy.expressions[(rule.name, c.name)] for c in rule.conditions
                    },
                    rule_line=policy.lines.get((rule.name, None)),
                    condition_lines={
                        c.name: policy.lines[(rule.name, c.name)]
                        for c in rule.conditions
                        if (rule.name, c.name) in policy.lines
                    },
                    roles=known_roles,
                    metrics=metrics,
                )
            )
    issues.extend(_coverage_issues(policies))
    return issues


def _known_functions(extra: Iterable[str]) -> set[str]:
    context = cel.Context()
    add_stdlib_to_context(context)
    return set(context.functions) | set(extra) | CORE_FUNCTIONS


def _policy_issues(
    policy: Policy, known_functions: set[str], kinds: set[str] | None
) -> Iterable[LintIssue]:
    file = str(policy.path)
    short_names = {name.rsplit(".", 1)[-1] for name in known_functions}
    namespaces = {name.split(".", 1)[0] for name in known_functions if "." in name}
    for rule in policy.rules:
        line = policy.lines.get((rule.name, None))
        required = {req.kind for req in rule.evidence}
        if kinds is not None:
            for kind in sorted(required - kinds):
                yield LintIssue(file, f"unknown evidence kind {kind!r}", line, "error", rule.name)
        scope = rule.applies_to
        if scope.transition == "production" and scope.event == "promotion" and not rule.approvals:
            yield LintIssue(
                file, "a rule for production requires no approvals", line, "warning", rule.name
            )
        if scope.event == "monitoring" and not rule.on_breach:
            yield LintIssue(
                file, "a monitoring rule sets no on_breach action", line, "warning", rule.name
            )
        for condition in rule.conditions:
            yield from _condition_issues(
                policy, rule.name, condition.name, required, kinds, short_names, namespaces
            )


def _condition_issues(
    policy: Policy,
    rule: str,
    name: str,
    required: set[str],
    kinds: set[str] | None,
    short_names: set[str],
    namespaces: set[str],
) -> Iterable[LintIssue]:
    compiled = policy.expressions[(rule, name)]
    expr = compiled.source
    line = policy.lines.get((rule, name))

    def issue(message: str, severity: Severity = "error") -> LintIssue:
        return LintIssue(str(policy.path), message, line, severity, rule, name)

    for function in sorted(compiled.functions - short_names):
        yield issue(f"unknown function {function!r}")
    free = compiled.variables - VARIABLES - TYPE_NAMES - bound_names(expr)
    for namespace in sorted(free - namespaces):
        yield issue(f"unknown function namespace {namespace!r}")
    for kind in sorted(set(_EVIDENCE_READ_RE.findall(expr))):
        if kinds is not None and kind not in kinds:
            yield issue(f"reads unknown evidence kind {kind!r}")
        guarded = re.search(rf"has\(\s*evidence\s*\.\s*{kind}\s*\)", expr)
        if kind not in required and not guarded:
            yield issue(
                f"reads evidence.{kind} but the rule does not require {kind!r} evidence "
                f"(add it to 'evidence' or guard with has(evidence.{kind}))",
                "warning",
            )


def _coverage_issues(policies: list[Policy]) -> Iterable[LintIssue]:
    # A production request nothing governs is blocked; say so before someone asks.
    covered: dict[str, set[str]] = {}
    for policy in policies:
        for rule in policy.rules:
            scope = rule.applies_to
            if scope.transition == "production" and scope.event == "promotion":
                covered.setdefault(scope.asset, set()).update(scope.risk_tiers or RISK_TIERS)
    for asset, tiers in sorted(covered.items()):
        for tier in RISK_TIERS:
            if tier not in tiers:
                yield LintIssue(
                    "(policy set)",
                    f"no rule governs a {tier}-risk {asset} moving to production; "
                    "such requests will be blocked",
                    severity="warning",
                )
