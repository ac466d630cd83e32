"""The policy engine: YAML rules, CEL conditions, fail-closed evaluation.

Typical use by the approval workflow::

    policies = load_policies("policies")
    rules = policies.select("model", "high", "production")
    result = evaluate(rules, facts, now=datetime.now(UTC), functions=plugin_functions)
    if not result.allowed:
        print(explain_text(result))

The engine reads no database: the workflow gathers :class:`EvaluationFacts`.
"""

from lmops_core.policy.cel_eval import VARIABLES, compile_expression, functions_from_checks
from lmops_core.policy.evaluate import (
    POLICY_REQUIRED_FOR,
    PolicyEvaluation,
    RuleOutcome,
    evaluate,
)
from lmops_core.policy.explain import explain_text
from lmops_core.policy.facts import (
    EvaluationFacts,
    EvidenceFacts,
    StageVersionFacts,
    VersionFacts,
)
from lmops_core.policy.issues import LintIssue
from lmops_core.policy.lint import lint
from lmops_core.policy.loader import MatchedRule, Policy, PolicySet, load_policies, load_policy
from lmops_core.policy.model import (
    ASSET_TYPES,
    BREACH_ACTIONS,
    RISK_TIERS,
    PolicyDocument,
    Rule,
    policy_json_schema,
    render_policy_schema,
    write_policy_schema,
)

__all__ = [
    "ASSET_TYPES",
    "BREACH_ACTIONS",
    "POLICY_REQUIRED_FOR",
    "RISK_TIERS",
    "VARIABLES",
    "EvaluationFacts",
    "EvidenceFacts",
    "LintIssue",
    "MatchedRule",
    "Policy",
    "PolicyDocument",
    "PolicyEvaluation",
    "PolicySet",
    "Rule",
    "RuleOutcome",
    "StageVersionFacts",
    "VersionFacts",
    "compile_expression",
    "evaluate",
    "explain_text",
    "functions_from_checks",
    "lint",
    "load_policies",
    "load_policy",
    "policy_json_schema",
    "render_policy_schema",
    "write_policy_schema",
]
