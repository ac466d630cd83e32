"""Reading policy files: YAML with line numbers, schema validation, CEL compilation."""

from __future__ import annotations

import functools
import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lmops_core.digests import digest_bytes
from lmops_core.errors import PolicyError, ValidationError
from lmops_core.policy.cel_eval import CompiledExpression, compile_expression
from lmops_core.policy.issues import LintIssue, policy_error
from lmops_core.policy.model import ASSET_TYPES, RISK_TIERS, Event, PolicyDocument, Rule

# libyaml parses about 20x faster than PyYAML's pure-Python parser, with the same marks.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_POLICY_BYTES = 1024 * 1024
DocumentT = TypeVar("DocumentT", bound=pydantic.BaseModel)
POLICY_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Policy:
    """A loaded, validated policy file with its conditions compiled."""

    path: Path
    digest: str
    document: PolicyDocument
    expressions: Mapping[tuple[str, str], CompiledExpression]
    lines: Mapping[tuple[str, str | None], int]
    name_line: int = 1

    @property
    def name(self) -> str:
        """The policy's ``name``."""
        return self.document.name

    @property
    def rules(self) -> list[Rule]:
        """The policy's rules, in file order."""
        return self.document.rules


@dataclass(frozen=True)
class MatchedRule:
    """A rule chosen for a request, with the file (and its digest) it came from."""

    file: str
    digest: str
    policy: str
    rule: Rule
    expressions: Mapping[str, CompiledExpression]
    line: int | None = None


@dataclass(frozen=True)
class PolicySet:
    """Every policy of a folder; :meth:`select` finds the rules governing a request."""

    policies: tuple[Policy, ...]

    def select(
        self, asset: str, risk_tier: str, transition: str, *, event: Event = "promotion"
    ) -> list[MatchedRule]:
        """The rules that govern ``asset`` of ``risk_tier`` moving to ``transition``."""
        if asset not in ASSET_TYPES:
            raise ValidationError(
                f"unknown asset type {asset!r} (expected one of {', '.join(ASSET_TYPES)})",
                field="asset",
            )
        if risk_tier not in RISK_TIERS:
            raise ValidationError(
                f"unknown risk tier {risk_tier!r} (expected one of {', '.join(RISK_TIERS)})",
                field="risk_tier",
            )
        matched = []
        for policy in self.policies:
            for rule in policy.rules:
                scope = rule.applies_to
                if (
                    scope.asset == asset
                    and scope.transition == transition
                    and scope.event == event
                    and (scope.risk_tiers is None or risk_tier in scope.risk_tiers)
                ):
                    matched.append(_matched(policy, rule))
        return matched

    @property
    def digests(self) -> dict[str, str]:
        """Each file's path mapped to its sha256 digest."""
        return {str(policy.path): policy.digest for policy in self.policies}

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    def __len__(self) -> int:
        return len(self.policies)


def _matched(policy: Policy, rule: Rule) -> MatchedRule:
    line = policy.lines.get((rule.name, None))
    return matched_rule(policy.path, policy.digest, policy.name, rule, policy.expressions, line)


def matched_rule(
    path: Path,
    digest: str,
    policy: str,
    rule: Rule,
    expressions: Mapping[tuple[str, str], CompiledExpression],
    line: int | None,
) -> MatchedRule:
    """``rule`` of the file at ``path`` (named ``policy``) with its conditions' expressions."""
    return MatchedRule(
        file=str(path),
        digest=digest,
        policy=policy,
        rule=rule,
        expressions={
            condition.name: expressions[(rule.name, condition.name)]
            for condition in rule.conditions
        },
        line=line,
    )


def load_policy(path: Path | str) -> Policy:
    """Load one policy file; a :class:`PolicyError` lists every problem with its line."""
    policy, issues = read_policy(Path(path))
    if policy is None:
        raise policy_error(issues)
    return policy


def load_policies(folder: Path | str) -> PolicySet:
    """Load every ``*.yaml``/``*.yml`` file of ``folder`` (not recursive), all or nothing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PolicyError(f"policy folder {folder} does not exist or is not a folder")
    policies, issues = read_policies(policy_files(folder))
    if any(issue.severity == "error" for issue in issues):
        raise policy_error(issues)
    return PolicySet(tuple(policies))


def policy_files(folder: Path) -> list[Path]:
    """The policy files of a folder, in name order so loading is deterministic."""
    # One directory read: each entry's type comes with it (no stat per file; a link is
    # still followed, as ``Path.is_file`` does). Every decision loads the folder.
    with os.scandir(folder) as entries:
        found = [
            folder / e.name
            for e in entries
            if os.path.splitext(e.name)[1] in POLICY_SUFFIXES and e.is_file()
        ]
    return sorted(found)


def read_policies(paths: list[Path]) -> tuple[list[Policy], list[LintIssue]]:
    """Load several files, collecting issues instead of stopping at the first bad file."""
    policies: list[Policy] = []
    issues: list[LintIssue] = []
    names: dict[str, Path] = {}
    for path in paths:
        policy, found = read_policy(path)
        issues.extend(found)
        if policy is None:
            continue
        if policy.name in names:
            issues.append(
                LintIssue(
                    str(path),
                    f"policy name {policy.name!r} is already used by {names[policy.name]}",
                    line=policy.name_line,
                )
            )
            continue
        names[policy.name] = path
        policies.append(policy)
    return policies, issues


def read_policy(path: Path) -> tuple[Policy | None, list[LintIssue]]:
    """Load ``path``; return the policy (or ``None``) and every error issue found."""
    raw, unread = file_bytes(path, "policy")
    if raw is None:
        return None, unread
    policy, issues = _parsed_policy(path, raw)
    if policy is not None:
        # Checked on every read, outside the parse cache: the pipeline file may go away.
        found = _retrain_pipeline_issues(policy)
        if found:
            return None, found
    return policy, list(issues)


@functools.lru_cache(maxsize=64)
def _parsed_policy(path: Path, raw: bytes) -> tuple[Policy | None, tuple[LintIssue, ...]]:
    """``raw`` (the content of ``path``) parsed, validated and compiled.

    Kept per path and exact content: every decision reloads the policy folder to
    compare digests (an edited file must be noticed), and re-reading a few kilobytes
    costs microseconds where parsing and compiling them again cost milliseconds. A
    changed file is new content, so it is parsed afresh. Callers never change a
    loaded :class:`Policy`.
    """
    policy, issues = _parse_policy(path, raw)
    return policy, tuple(issues)


def _parse_policy(path: Path, raw: bytes) -> tuple[Policy | None, list[LintIssue]]:
    file = str(path)
    parsed, issues = validated_document(raw, file, "policy", PolicyDocument, _schema_issue)
    if parsed is None:
        return None, issues
    root, document = parsed
    lines = _rule_lines(root, document)
    expressions, issues = compile_rules(file, root, document.rules)
    if issues:
        return None, issues
    name_line = line_for(root, ("name",))
    return Policy(path, digest_bytes(raw), document, expressions, lines, name_line), []


def file_bytes(path: Path, what: str) -> tuple[bytes | None, list[LintIssue]]:
    """The content of ``path`` (a ``what`` file: policy, pack), or why it cannot be read."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [LintIssue(file, f"cannot read {what} file: {exc.strerror or exc}")]
    if len(raw) > MAX_POLICY_BYTES:
        return None, [LintIssue(file, f"{what} file is larger than {MAX_POLICY_BYTES} bytes")]
    return raw, []


def yaml_document(raw: bytes, file: str, what: str) -> tuple[Node | None, Any, list[LintIssue]]:
    """:func:`parse_yaml` of ``raw`` decoded as UTF-8 (else an issue naming the byte)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, [LintIssue(file, f"{what} file is not UTF-8 (byte {exc.start})")]
    return parse_yaml(text, file, what)


def validated_document(
    raw: bytes,
    file: str,
    what: str,
    model: type[DocumentT],
    schema_issue: Callable[[str, Node, Any, Any], LintIssue],
) -> tuple[tuple[Node, DocumentT] | None, list[LintIssue]]:
    """The YAML root of ``raw`` and its data validated as ``model``; else ``None`` and the
    issues (a schema error becomes ``schema_issue(file, root, data, error)``)."""
    root, data, issues = yaml_document(raw, file, what)
    if root is None or issues:
        return None, issues
    try:
        return (root, model.model_validate(data)), []
    except pydantic.ValidationError as exc:
        return None, [schema_issue(file, root, data, error) for error in exc.errors()]


def compile_rules(
    file: str, root: Node, rules: Sequence[Rule]
) -> tuple[dict[tuple[str, str], CompiledExpression], list[LintIssue]]:
    """Every condition of ``rules`` (under ``rules:`` of ``root``) compiled, by (rule,
    condition) name, and an issue at its line for each one that does not compile."""
    expressions: dict[tuple[str, str], CompiledExpression] = {}
    issues: list[LintIssue] = []
    for i, rule in enumerate(rules):
        for j, condition in enumerate(rule.conditions):
            try:
                expressions[(rule.name, condition.name)] = compile_expression(condition.expr)
            except PolicyError as exc:
                line = line_for(root, ("rules", i, "conditions", j, "expr"))
                issues.append(
                    LintIssue(file, exc.message, line, "error", rule.name, condition.name)
                )
    return expressions, issues


def _retrain_pipeline_issues(policy: Policy) -> list[LintIssue]:
    """A ``retrain.pipeline`` must name a file inside the policy file's folder."""
    issues: list[LintIssue] = []
    folder: Path | None = None  # resolved only when a rule names a pipeline (file system calls)
    for i, rule in enumerate(policy.document.rules):
        for j, item in enumerate(rule.on_breach):
            if isinstance(item, str):
                continue
            folder = folder or policy.path.resolve().parent
            named = item.retrain.pipeline
            target = (folder / named).resolve()
            if Path(named).is_absolute() or not target.is_relative_to(folder):
                problem = "must be a file inside the policy file's folder"
            elif not target.is_file():
                problem = f"no such pipeline file (looked for {target})"
            else:
                continue
            issues.append(
                LintIssue(
                    str(policy.path),
                    f"rules[{i}].on_breach[{j}].retrain.pipeline: {named!r}: {problem}",
                    policy.lines.get((rule.name, None)),
                    "error",
                    rule.name,
                )
            )
    return issues


def parse_yaml(text: str, file: str, what: str) -> tuple[Node | None, Any, list[LintIssue]]:
    """The YAML node tree and the data of ``text`` (from ``file``, a ``what`` file: policy,
    pack), or the issues found: an empty file, malformed YAML, duplicate keys, anchors and
    aliases."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None, [LintIssue(file, f"{what} file is empty", 1)]
        issues = list(_structure_issues(root, file))
        data = None if issues else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        line = mark.line + 1 if mark is not None else None
        return None, None, [LintIssue(file, f"malformed YAML: {reason}", line)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        )
        return (
            None,
            None,
            [
                LintIssue(
                    file,
                    f"malformed YAML: character #x{char:04x} is not allowed ({exc.reason})",
                    line,
                )
            ],
        )
    except yaml.YAMLError as exc:
        return None, None, [LintIssue(file, f"malformed YAML: {exc}".splitlines()[0])]
    except RecursionError:
        return None, None, [LintIssue(file, "malformed YAML: nested too deeply")]
    finally:
        loader.dispose()
    return root, data, issues


def _structure_issues(root: Node, file: str) -> Iterator[LintIssue]:
    # PyYAML keeps the last of duplicate keys silently and shares aliased nodes; a
    # reviewer reading the file would see something other than what gets enforced.
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode | SequenceNode):
            if id(node) in seen:
                yield LintIssue(
                    file,
                    "YAML anchors and aliases are not allowed in policy files; spell each rule out",
                    node.start_mark.line + 1,
                )
                continue
            seen.add(id(node))
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value in keys:
                    yield LintIssue(file, f"duplicate key {key.value!r}", key.start_mark.line + 1)
                if isinstance(key, ScalarNode):
                    keys.add(key.value)
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)


def line_for(root: Node, loc: tuple[int | str, ...]) -> int:
    """The line (1-based) of the YAML node at ``loc``, or of its closest existing parent."""
    # PyYAML marks count lines from 0.
    node, line = root, int(root.start_mark.line) + 1
    for index, part in enumerate(loc):
        if isinstance(node, MappingNode) and isinstance(part, str):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == part:
                    if index == len(loc) - 1:
                        return int(key.start_mark.line) + 1
                    node, line = value, int(value.start_mark.line) + 1
                    break
            else:
                return line
        elif isinstance(node, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = int(node.start_mark.line) + 1
    return line


def _rule_lines(root: Node, document: PolicyDocument) -> dict[tuple[str, str | None], int]:
    lines: dict[tuple[str, str | None], int] = {}
    for i, rule in enumerate(document.rules):
        lines[(rule.name, None)] = line_for(root, ("rules", i))
        for j, condition in enumerate(rule.conditions):
            lines[(rule.name, condition.name)] = line_for(root, ("rules", i, "conditions", j))
    return lines


def schema_loc(error: Any) -> tuple[int | str, ...]:
    """Where in the file a pydantic ``error`` is: its ``loc`` less the union members' tags."""
    return tuple(part for part in error["loc"] if isinstance(part, int) or "[" not in part)


def _schema_issue(file: str, root: Node, data: Any, error: Any) -> LintIssue:
    loc = schema_loc(error)
    line = line_for(root, loc)
    rule, condition = _names_at(data, loc)
    where = format_loc(loc)
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        message = f"unknown key {loc[-1]!r} at {format_loc(loc[:-1]) or 'top level'}{hint}"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        got = ""
        if error["type"] not in ("missing", "value_error") and isinstance(
            value, str | int | float | bool
        ):
            got = f" (got {value!r})"
        message = f"{where or 'top level'}: {reason}{got}"
    return LintIssue(file, message, line, "error", rule, condition)


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``loc`` as a reader writes it: ``rules[0].conditions[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _names_at(data: Any, loc: tuple[int | str, ...]) -> tuple[str | None, str | None]:
    def name_of(items: Any, index: Any) -> tuple[Any, str | None]:
        if isinstance(items, list) and isinstance(index, int) and 0 <= index < len(items):
            item = items[index]
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                return item, item["name"]
            return item, None
        return None, None

    if len(loc) < 2 or loc[0] != "rules" or not isinstance(data, dict):
        return None, None
    rule_data, rule = name_of(data.get("rules"), loc[1])
    condition = None
    if len(loc) >= 4 and loc[2] == "conditions" and isinstance(rule_data, dict):
        _, condition = name_of(rule_data.get("conditions"), loc[3])
    return rule, condition


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[pydantic.BaseModel] | None = PolicyDocument
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        model = _model_in(field.annotation) if field is not None else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
