"""The static result type of a CEL condition, where it can be known without running it.

The ``cel`` package compiles expressions but exposes no type checker, so this
module reads the expression's top-level structure: a comparison, ``&&``, ``||``,
``!``, ``has()`` or ``in`` is a bool; arithmetic, a literal number, string, list
or map, ``size()``, ``map()``... is not. A field read is unknown, except a metric
whose evidence kind declares its type. Unknown never raises an issue: the
evaluator still turns a non-bool result into an ``error`` verdict at run time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<str>[rRbB]{0,2}(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"
                        |'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
     |(?P<num>0[xX][0-9a-fA-F]+[uU]?|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?[uU]?)
     |(?P<id>[A-Za-z_]\w*)
     |(?P<op>&&|\|\||==|!=|<=|>=|[<>!+\-*/%?:.,()\[\]{}])
    )""",
    re.VERBOSE | re.DOTALL,
)

#: Types of metrics as declared by :class:`~lmops_core.contracts.EvidenceKind`, as CEL sees them
#: (numbers are doubles in conditions: see ``to_cel_value``).
DECLARED_TYPES = {"number": "double", "integer": "double", "string": "string", "boolean": "bool"}
_METHOD_TYPES = {
    "contains": "bool",
    "startsWith": "bool",
    "endsWith": "bool",
    "matches": "bool",
    "exists": "bool",
    "all": "bool",
    "exists_one": "bool",
    "size": "int",
    "map": "list",
    "filter": "list",
}
_FUNCTION_TYPES = {
    "has": "bool",
    "size": "int",
    "int": "int",
    "uint": "uint",
    "double": "double",
    "string": "string",
    "bytes": "bytes",
    "bool": "bool",
    "timestamp": "timestamp",
    "duration": "duration",
    "type": "type",
    "matches": "bool",
}
_RELATIONS = {"==", "!=", "<", "<=", ">", ">="}
# Fields the evaluator itself fills in (see ``evaluate._version_value`` / ``_evidence_value``).
_VERSION_FIELDS = {
    "ref": "string",
    "digest": "string",
    "asset_type": "string",
    "risk_tier": "string",
    "kind": "string",
    "created_by": "string",
    "created_at": "timestamp",
    "tags": "list",
    "metadata": "map",
    "evidence": "map",
    "target_model": "string",
}
_EVIDENCE_FIELDS = {
    "kind": "string",
    "metrics": "map",
    "created_at": "timestamp",
    "age_days": "double",
    "subject_digest": "string",
    "stage": "string",
    "plugin": "string",
    "digest": "string",
    "actor": "string",
    "run_id": "string",
    "paired": "string",
}
_REQUEST_FIELDS = {"requester": "string", "transition": "string"}

Path = tuple[str, ...] | None
Typed = tuple[str | None, Path]


class _Unparsable(Exception):
    pass


def result_type(
    source: str, metric_type: Callable[[str, str], str | None] | None = None
) -> str | None:
    """The CEL type name ``source`` evaluates to (``"bool"``, ``"double"``...), or ``None``.

    ``metric_type(kind, metric)`` gives the declared type of ``evidence.kind.metrics.metric``.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = source.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.end() == pos:
            return None
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    parser = _Parser(tokens, metric_type or (lambda _k, _m: None))
    try:
        typ, _ = parser.expr()
        if parser.i != len(tokens):
            return None
    except (_Unparsable, RecursionError, IndexError):
        return None
    return typ


class _Parser:
    def __init__(
        self, tokens: list[tuple[str, str]], metric_type: Callable[[str, str], str | None]
    ) -> None:
        self.tokens = tokens
        self.i = 0
        self.metric_type = metric_type

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise _Unparsable
        token = self.tokens[self.i]
        if expected is not None and token[1] != expected:
            raise _Unparsable
        self.i += 1
        return token

    def expr(self) -> Typed:
        first = self.cond_or()
        if self.peek() != "?":
            return first
        self.take("?")
        yes, _ = self.cond_or()
        self.take(":")
        no, _ = self.expr()
        if yes == no:
            return yes, None
        if yes is not None and no is not None and "bool" not in (yes, no):
            return f"{yes} or {no}", None
        return None, None

    def _chain(self, ops: set[str], lower: Callable[[], Typed], result: str | None) -> Typed:
        left = lower()
        if self.peek() not in ops:
            return left
        while self.peek() in ops:
            self.take()
            lower()
        return result, None

    def cond_or(self) -> Typed:
        return self._chain({"||"}, self.cond_and, "bool")

    def cond_and(self) -> Typed:
        return self._chain({"&&"}, self.relation, "bool")

    def relation(self) -> Typed:
        left = self.addition()
        while self.peek() in _RELATIONS or self.peek() == "in":
            self.take()
            self.addition()
            left = ("bool", None)
        return left

    def addition(self) -> Typed:
        left = self.multiplication()
        while self.peek() in ("+", "-"):
            self.take()
            right, _ = self.multiplication()
            left = (left[0] or right or "number", None)
        return left

    def multiplication(self) -> Typed:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            self.take()
            right, _ = self.unary()
            left = (left[0] or right or "number", None)
        return left

    def unary(self) -> Typed:
        if self.peek() == "!":
            while self.peek() == "!":
                self.take()
            self.member()
            return "bool", None
        if self.peek() == "-":
            while self.peek() == "-":
                self.take()
            typ, _ = self.member()
            return typ or "number", None
        return self.member()

    def member(self) -> Typed:
        typ, path = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                name = self.take()
                if name[0] != "id":
                    raise _Unparsable
                if self.peek() == "(":
                    self.arguments(")")
                    typ, path = _METHOD_TYPES.get(name[1]), None
                else:
                    path = (*path, name[1]) if path is not None else None
                    typ = self._field_type(path)
            else:
                index = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
                self.expr()
                self.take("]")
                key = _string_value(index[1]) if index[0] == "str" else None
                path = (*path, key) if path is not None and key is not None else None
                typ = self._field_type(path)
        return typ, path

    def _field_type(self, path: Path) -> str | None:
        if path is None:
            return None
        if path[0] == "request" and len(path) == 2:
            return _REQUEST_FIELDS.get(path[1])
        if path[0] in ("version", "production", "current") and len(path) == 2:
            return _VERSION_FIELDS.get(path[1])
        if path[:1] in (("production",), ("current",)):
            path = path[1:]
        if len(path) == 3 and path[0] == "evidence":
            return _EVIDENCE_FIELDS.get(path[2])
        if len(path) == 4 and path[0] == "evidence" and path[2] == "metrics":
            declared = self.metric_type(path[1], path[3])
            return DECLARED_TYPES.get(declared or "")
        return None

    def arguments(self, closing: str) -> int:
        self.take()
        count = 0
        while self.peek() != closing:
            self.expr()
            count += 1
            if self.peek() == ":" and closing == "}":
                self.take(":")
                self.expr()
            if self.peek() == ",":
                self.take(",")
        self.take(closing)
        return count

    def primary(self) -> Typed:
        kind, value = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if value == ".":
            self.take()
            kind, value = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if value == "(":
            self.take()
            inner = self.expr()
            self.take(")")
            return inner[0], None
        if value == "[":
            self.arguments("]")
            return "list", None
        if value == "{":
            self.arguments("}")
            return "map", None
        self.take()
        if kind == "str":
            return ("bytes" if value[:2].lower().count("b") else "string"), None
        if kind == "num":
            if value[-1] in "uU":
                return "uint", None
            is_double = not value.lower().startswith("0x") and any(c in value for c in ".eE")
            return ("double" if is_double else "int"), None
        if kind != "id":
            raise _Unparsable
        if value in ("true", "false"):
            return "bool", None
        if value == "null":
            return "null", None
        if self.peek() == "(":
            self.arguments(")")
            return _FUNCTION_TYPES.get(value), None
        if value == "now" and self.peek() not in (".", "["):
            return "timestamp", None
        return None, (value,)


def _string_value(token: str) -> str | None:
    body = token.lstrip("rRbB")
    for quote in ('"""', "'''", '"', "'"):
        if body.startswith(quote) and body.endswith(quote) and len(body) >= 2 * len(quote):
            inner = body[len(quote) : -len(quote)]
            return inner if "\\" not in inner else None
    return None


def declared_metric_type(
    declarations: Mapping[str, Mapping[str, str]],
) -> Callable[[str, str], str | None]:
    """``metric_type`` for :func:`result_type` from ``kind -> {metric: type}`` declarations."""

    def metric_type(kind: str, metric: str) -> str | None:
        return declarations.get(kind, {}).get(metric)

    return metric_type
