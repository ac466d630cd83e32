"""Compiling and running policy conditions with CEL (the ``common-expression-language`` package).

Conditions are never run as Python. Everything that can go wrong while a
condition runs becomes a ``missing`` or ``error`` verdict: governance fails
closed, and the message says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import cel
from cel.stdlib import add_stdlib_to_context

from lmops_core.contracts import PolicyCheck
from lmops_core.errors import PolicyError, ValidationError

Verdict = Literal["pass", "fail", "missing", "error"]

#: The variables a condition may read.
VARIABLES: frozenset[str] = frozenset(
    {"evidence", "version", "current", "production", "request", "now"}
)
#: CEL type identifiers; they show up as variables in static analysis (``type(x) == int``).
TYPE_NAMES = frozenset(
    {"int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type", "dyn"}
)
# Functions of the CEL core that the Rust runtime provides natively.
CORE_FUNCTIONS: frozenset[str] = frozenset(
    {
        "size", "int", "uint", "double", "string", "bytes", "bool", "dyn", "type", "timestamp",
        "duration", "matches", "contains", "startsWith", "endsWith", "max", "min",
        "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth", "getDate", "getDayOfWeek",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds",
    }
)  # fmt: skip
_COMPREHENSION_RE = re.compile(r"\.\s*(?:all|exists_one|exists|map|filter)\s*\(\s*([A-Za-z_]\w*)")
_FUNCTION_NAME_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_PATH_RE = re.compile(
    r"\b(evidence|version|current|production|request)"
    r"((?:\s*\.\s*[A-Za-z_]\w*|\s*\[\s*(?:'[^']*'|\"[^\"]*\")\s*\])+)"
)
_PATH_PART_RE = re.compile(r"\.\s*([A-Za-z_]\w*)|\[\s*(?:'([^']*)'|\"([^\"]*)\")\s*\]")


@dataclass(frozen=True)
class CompiledExpression:
    """A condition compiled once at load time and run for every evaluation."""

    source: str
    program: cel.Program
    variables: frozenset[str]
    functions: frozenset[str]


def compile_expression(source: str) -> CompiledExpression:
    """Compile ``source``; a :class:`PolicyError` gives the reason when it does not compile.

    Besides syntax, an unknown top-level variable (a typo such as ``evidnce``)
    is refused here, so it cannot reach an evaluation.
    """
    try:
        program = cel.compile(source)
    except ValueError as exc:
        raise PolicyError(f"expression does not compile: {_syntax_reason(exc)}") from None
    references = program.references()
    unknown = sorted(
        name
        for name in references["variables"]
        if name not in VARIABLES
        and name not in TYPE_NAMES
        and name not in bound_names(source)
        and not _used_as_namespace(name, source)
    )
    if unknown:
        raise PolicyError(
            f"expression reads unknown variable(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(VARIABLES))})"
        )
    return CompiledExpression(
        source=source,
        program=program,
        variables=frozenset(references["variables"]),
        functions=frozenset(
            name for name in references["functions"] if not name.startswith(("_", "!", "-", "@"))
        ),
    )


def bound_names(source: str) -> set[str]:
    """Names bound by comprehension macros (``list.all(x, ...)``): not free variables."""
    return set(_COMPREHENSION_RE.findall(source))


def _used_as_namespace(name: str, source: str) -> bool:
    # cel reports `acme` in `acme.tox(x)` as a variable; it is a plugin function namespace.
    return re.search(rf"\b{re.escape(name)}\s*\.\s*[A-Za-z_]\w*\s*\(", source) is not None


def _syntax_reason(exc: ValueError) -> str:
    text = str(exc)
    for line in text.splitlines():
        if line.startswith("ERROR: "):
            return line.removeprefix("ERROR: ").replace("<input>:", "column ", 1).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_functions(functions: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Validate plugin function names and callables; return them as a plain dict."""
    checked: dict[str, Callable[..., Any]] = {}
    for name, function in functions.items():
        if not isinstance(name, str) or _FUNCTION_NAME_RE.fullmatch(name) is None:
            raise ValidationError(f"invalid policy function name {name!r}", field="functions")
        if name.split(".", 1)[0] in VARIABLES:
            raise ValidationError(
                f"policy function {name!r} would shadow the variable {name.split('.', 1)[0]!r}",
                field="functions",
            )
        if not callable(function):
            raise ValidationError(f"policy function {name!r} is not callable", field="functions")
        checked[name] = function
    return checked


def functions_from_checks(checks: Iterable[PolicyCheck]) -> dict[str, Callable[..., Any]]:
    """Map the :class:`PolicyCheck` objects plugins registered to ``name -> function``."""
    functions: dict[str, Callable[..., Any]] = {}
    for check in checks:
        if check.name in functions:
            raise ValidationError(f"policy function {check.name!r} registered twice")
        functions[check.name] = check.function
    return check_functions(functions)


def build_context(
    variables: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]
) -> cel.Context:
    """A CEL context with the extended standard library, plugin functions and variables."""
    context = cel.Context()
    add_stdlib_to_context(context)
    for name, function in functions.items():
        context.add_function(name, function)
    for name, value in variables.items():
        context.add_variable(name, value)
    return context


def run_expression(
    compiled: CompiledExpression, context: cel.Context, variables: Mapping[str, Any]
) -> tuple[Verdict, str]:
    """Run a compiled condition and turn every outcome into a verdict and a reason."""
    try:
        result = compiled.program.execute(context)
    except KeyError as exc:
        key = str(exc.args[0]) if exc.args else ""
        return "missing", describe_missing(compiled.source, variables, key)
    except TypeError as exc:
        return "error", f"type mismatch: {_first_sentence(exc)}"
    except ZeroDivisionError as exc:
        return "error", f"arithmetic error: {exc}"
    except Exception as exc:  # any other failure must block, never pass
        return "error", f"evaluation failed: {_first_sentence(exc)}"
    if not isinstance(result, bool):
        return "error", f"expression returned {type(result).__name__} {result!r}, not a bool"
    return ("pass", "") if result else ("fail", "")


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    head, sep, _ = text.partition(". ")
    return head + ("." if sep else "")


def describe_missing(source: str, variables: Mapping[str, Any], key: str) -> str:
    """Say which value a condition needed and did not find (the first absent path)."""
    for match in _PATH_RE.finditer(source):
        parts = [a or b or c for a, b, c in _PATH_PART_RE.findall(match.group(2))]
        value: Any = variables.get(match.group(1))
        walked = [match.group(1)]
        for part in parts:
            if not isinstance(value, Mapping):
                break
            if part not in value:
                if part == key:
                    return _missing_message(walked, part)
                break
            value = value[part]
            walked.append(part)
    return f"a value the expression needs is absent (no key {key!r})"


def _missing_message(walked: list[str], part: str) -> str:
    path = ".".join(walked)
    if walked == ["evidence"] or walked[-1:] == ["evidence"]:
        owner = "the version" if walked == ["evidence"] else walked[0]
        return (
            f"no usable {part!r} evidence for {owner} (none recorded, or none passed the "
            "rule's stage/plugin/same_digest/max_age filters)"
        )
    if walked[-1] == "metrics":
        return f"{path} has no metric {part!r}"
    if walked in (["production"], ["current"]):
        return f"no version holds the stage, so {path}.{part} is absent"
    return f"{path} has no field {part!r}"


def to_cel_value(value: Any, *, numbers_as_double: bool = False) -> Any:
    """JSON data as CEL sees it: nulls and non-finite numbers become absent keys.

    Metrics use ``numbers_as_double`` so that ``acc - 1.0`` works whether the
    plugin reported ``1`` or ``1.0`` (CEL does not mix int and double in arithmetic).
    """
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            item = to_cel_value(item, numbers_as_double=numbers_as_double)
            if item is not None:
                converted[str(key)] = item
        return converted
    if isinstance(value, list | tuple):
        items = (to_cel_value(item, numbers_as_double=numbers_as_double) for item in value)
        return [item for item in items if item is not None]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return float(value) if numbers_as_double else value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value
