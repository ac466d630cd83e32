"""Fuzzing what users hand lmops: dataset records, policy files, SDK arguments.

The only acceptable outcomes are success or an :class:`LmopsError` with a message; any
other exception is a traceback a user would see. Budgets are fixed and derandomised,
so the suite runs the same examples every time and stays within its time budget.
"""

from __future__ import annotations

import json
import string
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmops_core.datasets.ingest import ingest_file
from lmops_core.datasets.shapes import SHAPES
from lmops_core.digests import digest_bytes
from lmops_core.errors import AuthenticationError, LmopsError
from lmops_core.governance.models import ROLES
from lmops_core.policy import EvaluationFacts, EvidenceFacts, VersionFacts, evaluate, lint
from lmops_core.policy.loader import load_policy
from lmops_core.testing.postgres import PG_ADMIN_URL
from lmops_core.testing.postgres import pg_admin as _pg_admin
from lmops_core.workspace import Workspace
from tests.conftest import (
    BACKENDS,
    TEST_ADMIN,
    admin_ws,
    grant,
    make_settings,
)

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
OUTCOMES: dict[str, dict[str, int]] = {}


def _outcome(test: str, call: Callable[[], Any]) -> Any:
    """Run ``call``: success or an LmopsError with a message; anything else fails the test."""
    tally = OUTCOMES.setdefault(test, {"runs": 0, "refused": 0})
    tally["runs"] += 1
    try:
        return call()
    except AuthenticationError as exc:  # the fuzzing workspace's credential must hold
        raise AssertionError(f"{test}: credential refused, nothing was fuzzed: {exc}") from exc
    except LmopsError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        tally["refused"] += 1
        return None


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lmops-fuzz-") as name:
        yield Path(name)


# -- dataset records -------------------------------------------------------------------

_ALL_CHARS = st.characters(codec=None, categories=None)  # includes lone surrogates
_texts = st.text(alphabet=_ALL_CHARS, max_size=12) | st.sampled_from(
    ["", " ", "\ud800", "\udfff", "\x00", "user", "assistant", "system", "bot", "é", "中文"]
)
_numbers = (
    st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
)
_json = st.recursive(
    _texts | _numbers,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_texts, inner, max_size=4),
    max_leaves=12,
)
_FIELD_NAMES = (
    st.sampled_from(
        [
            "prompt",
            "response",
            "system",
            "text",
            "chosen",
            "rejected",
            "messages",
            "role",
            "content",
            "meta",
        ]
    )
    | _texts
)


@st.composite
def _shaped_record(draw: st.DrawFn) -> Any:
    """Mostly record-like objects: the right field names with any values."""
    if draw(st.booleans()):
        message = st.fixed_dictionaries({"role": _texts, "content": _texts | _json})
        return {"messages": draw(st.lists(message | _json, max_size=4))}
    return draw(st.dictionaries(_FIELD_NAMES, _texts | _json, max_size=5))


_FRAGMENTS = [
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    '"text"',
    '"prompt"',
    '"a"',
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    '"\\ud800"',
    '"\\udc00x"',
    "9" * 5000,
    "[" * 2000,
    "null",
    "true",
    '"\\u0000"',
    "\\",
    '"',
    " ",
    '{"text":"x","text":"y"}',
    "\x00",
    "\ufeff",
]


def _line(value: Any) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (ValueError, TypeError):
        return b"{}"
    return text.encode("utf-8", "surrogatepass")


_content = st.text(max_size=30) | _texts  # mostly valid text, sometimes hostile


def _valid_record(shape: str) -> st.SearchStrategy[Any]:
    """Records of ``shape`` with fuzzed content (and sometimes extra fields)."""
    extra = st.dictionaries(st.sampled_from(["meta", "id", "source"]), _json, max_size=2)
    if shape == "dialogue":
        turn = st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant"]), "content": _content}
        )
        last = st.fixed_dictionaries({"role": st.just("assistant"), "content": _content})
        body = st.builds(
            lambda turns, end: {"messages": [*turns, end]}, st.lists(turn, max_size=3), last
        )
    else:
        names = {
            "instruction": ("prompt", "response"),
            "text": ("text",),
            "preference": ("prompt", "chosen", "rejected"),
        }[shape]
        body = st.fixed_dictionaries({n: _content for n in names})
    return st.builds(lambda b, e: {**e, **b}, body, extra)


def _lines(shape: str) -> st.SearchStrategy[bytes]:
    hostile = (
        _shaped_record().map(_line)
        | _json.map(_line)
        | st.lists(st.sampled_from(_FRAGMENTS), max_size=8).map(
            lambda p: "".join(p).encode("utf-8", "surrogatepass")
        )
        | st.binary(max_size=40)
    )
    return st.one_of(_valid_record(shape).map(_line), _valid_record(shape).map(_line), hostile)


@pytest.mark.parametrize("shape", SHAPES)
@settings(FUZZ, max_examples=250)
@given(data=st.data(), drop=st.booleans())
def test_fuzz_dataset_records(folder: Path, shape: str, data: st.DataObject, drop: bool) -> None:
    lines = data.draw(st.lists(_lines(shape), min_size=1, max_size=5))
    path = folder / f"fuzz-{shape}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    tmp = folder / "tmp"
    tmp.mkdir(exist_ok=True)
    result = _outcome(
        f"dataset records ({shape})",
        lambda: ingest_file(
            path, shape=shape, tmp_dir=tmp, drop_invalid=drop, max_record_bytes=4096
        ),
    )
    if result is not None:
        canonical = result.path.read_bytes()
        for line in canonical.splitlines():  # what was kept is strict JSON, one meaning
            json.loads(line, parse_constant=_no_constant)
        result.path.unlink()
    assert list(tmp.iterdir()) == []


def _no_constant(name: str) -> None:
    raise AssertionError(f"canonical output holds {name}")


# -- policy files ----------------------------------------------------------------------

_CEL_ATOMS = [
    "evidence.eval.metrics.acc",
    "evidence.eval.metrics['x.y']",
    "version.risk_tier",
    "production.evidence.eval.metrics.acc",
    "1",
    "0.5",
    "'s'",
    "true",
    "null",
    "size(version.tags)",
    "now",
    "has(evidence.eval)",
    "version.tags",
    "[1, 2]",
    "{'a': 1}",
    "evidence",
    "b'x'",
    "1u",
    "duration('1h')",
    "acme.toxic(1)",
    "evidnce.x",
    "(",
    ")",
    "9" * 30,
    "timestamp('x')",
    "1/0",
    "'\\ud800'",
]
_CEL_OPS = [
    " && ",
    " || ",
    " == ",
    " >= ",
    " + ",
    " - ",
    " / ",
    " ? ",
    " : ",
    "!",
    " in ",
    ".all(x, x > 0)",
    ".exists(t, t == 'a')",
    ".",
]


@st.composite
def _expression(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(_CEL_ATOMS), min_size=1, max_size=4))
    ops = draw(
        st.lists(st.sampled_from(_CEL_OPS), min_size=len(parts) - 1, max_size=len(parts) - 1)
    )
    text = parts[0] + "".join(op + part for op, part in zip(ops, parts[1:], strict=True))
    return draw(st.sampled_from([text, text.replace(" ", ""), f"({text})"]))


_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-5, 30)
    | st.sampled_from(
        [
            "model",
            "dataset",
            "prompt",
            "production",
            "staging",
            "high",
            "low",
            "30d",
            "0d",
            "x",
            "validator",
            "risk_oficer",
            "eval",
            "promotion",
            "monitoring",
            "alert",
            "",
            "A B",
        ]
    )
)


_METRICS = st.sampled_from(
    [
        "evidence.eval.metrics.acc",
        "evidence.eval.metrics['mmlu.acc']",
        "production.evidence.eval.metrics.acc",
        "evidence.eval.age_days",
        "evidence.eval.metrics.accuracy",
        "evidence.validation.metrics.x",
    ]
)
_LITERALS = st.sampled_from(["0.5", "1.0", "0", "1", "'x'", "true", "null", "1e308", "-0.0"])
_comparison = st.builds(
    lambda a, op, b: f"{a} {op} {b}",
    _METRICS,
    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
    _LITERALS | _METRICS,
)
_guarded = st.builds(lambda c: f"has(evidence.eval) && {c}", _comparison)
_valid_expr = st.recursive(
    _comparison
    | _guarded
    | st.sampled_from(
        [
            "true",
            "version.risk_tier == 'high'",
            "size(version.tags) > 0",
            "acme.toxic(1)",
            "evidence.eval.actor != version.created_by",
            "version.tags.exists(t, t == 't')",
        ]
    ),
    lambda inner: (
        st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["&&", "||"]), inner)
        | inner.map(lambda a: f"!({a})")
    ),
    max_leaves=4,
)
_non_bool_expr = st.sampled_from(
    [
        "evidence.eval.metrics.acc",
        "1 + 2",
        "'yes'",
        "[true]",
        "evidence.eval.metrics.acc - 0.5",
        "size(version.tags)",
    ]
)


@st.composite
def _policy_document(draw: st.DrawFn) -> Any:
    """A valid policy, then (usually) one mutation: a field replaced, dropped or added."""
    rule: dict[str, Any] = {
        "name": "gate",
        "applies_to": {"asset": "model", "transition": "production"},
        "evidence": [{"kind": draw(st.sampled_from(["eval", "validation", "other"]))}],
        "conditions": [
            {"name": f"c{i}", "expr": draw(_valid_expr | _non_bool_expr | _expression())}
            for i in range(draw(st.integers(0, 2)))
        ],
        "approvals": [
            {
                "role": draw(st.sampled_from([*ROLES, "risk_oficer"])),
                "count": draw(st.integers(1, 3)),
            }
        ],
    }
    doc: dict[str, Any] = {"apiVersion": "lmops/v1", "kind": "Policy", "name": "p", "rules": [rule]}
    mutation = draw(st.sampled_from(["none", "none", "replace", "drop", "add"]))
    rule_keys = ("name", "evidence", "approvals", "request_ttl", "on_breach")
    targets: list[tuple[dict[str, Any], str]] = [  # "unknown": a key no schema knows
        *[(doc, key) for key in ("name", "apiVersion")],
        *[(rule, key) for key in (*rule_keys, "separation_of_duties", "unknown")],
        *[(rule["applies_to"], key) for key in ("asset", "transition", "risk_tiers", "event")],
    ]
    target, key = draw(st.sampled_from(targets))
    if mutation == "replace" or (mutation == "add" and key not in target):
        target[key] = draw(_scalar | st.lists(_scalar, max_size=2))
    elif mutation == "drop":
        target.pop(key, None)
    return doc


def _policy_text(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


_policy_texts = (
    _policy_document().map(_policy_text)
    | st.text(alphabet=_ALL_CHARS, max_size=60)
    | st.lists(
        st.sampled_from(
            [
                "apiVersion: lmops/v1\n",
                "kind: Policy\n",
                "name: p\n",
                "rules:\n",
                "  - name: r\n",
                "    applies_to: {asset: model}\n",
                "&a ",
                "*a",
                "? ",
                "- ",
                "!!python/object:os.system\n",
                "\t",
                "'",
                '"',
                "{",
                "[",
                "\x00",
                "\ufeff",
            ]
        ),
        max_size=10,
    ).map("".join)
)
_KINDS = {"eval": {"acc": "number", "*.*": "number"}, "validation": {}}
_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
_FACTS = EvaluationFacts(
    version=VersionFacts(
        ref="model:m@1",
        digest=digest_bytes(b"m"),
        asset_type="model",
        risk_tier="high",
        kind="full",
        created_by="a",
        created_at=_NOW,
        metadata={},
        tags=["t"],
    ),
    transition="production",
    requester="b",
    evidence=[
        EvidenceFacts(
            kind="eval",
            subject_digest=digest_bytes(b"m"),
            metrics={"acc": 0.7, "x.y": float("nan")},
            created_at=_NOW,
            stage=None,
            plugin="p",
            digest=digest_bytes(b"e"),
            actor="c",
            run_id=None,
        )
    ],
    current=None,
    production=None,
)


@settings(FUZZ, max_examples=500)
@given(text=_policy_texts)
def test_fuzz_policy_files(folder: Path, text: str) -> None:
    path = folder / "fuzz-policy.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    issues = _outcome(
        "policy files: lint",
        lambda: lint([path], evidence_kinds=_KINDS, roles=ROLES, functions=["acme.toxic"]),
    )
    assert issues is not None  # lint reports problems, it never refuses to look
    for issue in issues:
        assert str(issue).startswith(str(path)) or str(issue).startswith("(policy set)")
    policy = _outcome("policy files: load and evaluate", lambda: load_policy(path))
    if policy is not None:
        for rule in policy.rules:
            from lmops_core.policy.loader import _matched

            result = evaluate(
                [_matched(policy, rule)],
                _FACTS,
                now=_NOW,
                functions={"acme.toxic": lambda x: True},
                roles=ROLES,
                evidence_metrics=_KINDS,
            )
            assert all(o.message or o.status == "pass" for o in result.outcomes)


# -- SDK arguments -----------------------------------------------------------------------

_words = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
_odd_names = (
    st.text(alphabet=_ALL_CHARS, max_size=20)
    | st.text(alphabet=string.ascii_letters + string.digits + "._-%/@: ", max_size=20)
    | st.sampled_from(
        [
            "qa",
            "QA",
            "q%41",
            "../x",
            "a" * 200,
            "dataset:qa@1",
            "\x00",
            "x\ud800",
            "latest",
            "prod",
            "production",
        ]
    )
)
_names = _words | _words | _odd_names
_valid_refs = st.sampled_from(
    ["dataset:qa@1", "dataset:qa@latest", "dataset:QA@1", "dataset:q%61@1", "dataset:qa"]
)
_odd_refs = _names | st.builds(
    lambda t, n, v: f"{t}:{n}@{v}",
    st.sampled_from(["dataset", "model", "prompt", "suite", "nope", ""]),
    _names,
    st.sampled_from(["1", "0", "-1", "latest", "prod", "99999999999999999999999", "", "@"]),
)
_refs = _valid_refs | _valid_refs | _odd_refs
_metric_values = st.recursive(
    _numbers | _texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module", params=BACKENDS)
def sdk(request: pytest.FixtureRequest, folder: Path) -> Iterator[tuple[Workspace, str]]:
    """One workspace per backend for the whole module (fuzzing reuses it across examples)."""
    url = None
    if request.param == "postgresql":
        name = f"lmops_fuzz_{uuid.uuid4().hex[:12]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    home = folder / request.param
    opened = Workspace.open(make_settings(home / "home", url))
    # Acting with a real credential (admin and submitter), so that the decisions fuzzed
    # below (request_promotion, grant_role) reach their argument handling.
    grant(opened, TEST_ADMIN, "submitter")
    ws = admin_ws(opened)
    src = home / "qa.jsonl"
    src.write_text('{"text": "hello"}\n')
    ref = ws.register_dataset("qa", src, shape="text").ref
    yield ws, ref
    opened.close()
    if url is not None:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` about three times in four, ``odd`` otherwise (one_of would flatten and dilute)."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: usual if ok else odd)


_SDK_CALLS: list[tuple[str, Callable[..., Any], st.SearchStrategy[Any]]] = [
    ("get", lambda ws, ref, a: ws.get(a), _refs),
    ("evidence", lambda ws, ref, a: ws.evidence(a[0], kind=a[1]), st.tuples(_refs, _names)),
    (
        "lineage",
        lambda ws, ref, a: ws.lineage(a[0], direction=a[1], depth=a[2]),
        st.tuples(
            _refs,
            _mostly(st.sampled_from(["up", "down"]), _names),
            _mostly(st.integers(0, 20), st.integers(-5, 10**12)),
        ),
    ),
    (
        "list_versions",
        lambda ws, ref, a: ws.list_versions(a[0], a[1]),
        st.tuples(
            st.sampled_from(["dataset", "model", "nope"]),
            _mostly(st.sampled_from(["qa", "QA", "q-a"]), _names),
        ),
    ),
    (
        "search",
        lambda ws, ref, a: ws.search(a[0], name=a[1], metrics=a[2], tags=a[3], limit=a[4]),
        st.tuples(
            st.sampled_from(["dataset", "model", "nope"]),
            _names | st.none(),
            st.lists(
                _names
                | st.sampled_from(
                    ["eval.acc>=0.6", "a.b<nan", "x>=1e999", "dataset_card.records>=1"]
                ),
                max_size=2,
            ),
            st.dictionaries(_names, _names, max_size=2) | st.none(),
            st.integers(-10, 10**6),
        ),
    ),
    (
        "tag",
        lambda ws, ref, a: ws.tag(a[0] or ref, a[1], a[2]),
        st.tuples(st.none() | _refs, _names, _names),
    ),
    ("set_alias", lambda ws, ref, a: ws.set_alias(ref, a), _names),
    (
        "create_prompt",
        lambda ws, ref, a: ws.create_prompt(a[0], a[1], variables=a[2]),
        st.tuples(
            _names,
            st.text(alphabet=_ALL_CHARS, max_size=30)
            | st.sampled_from(["{x}", "{", "}", "{0}", "{x!r}", "{x:{y}}"]),
            st.none() | st.lists(_names, max_size=2),
        ),
    ),
    (
        "attach_evidence",
        lambda ws, ref, a: ws.attach_evidence(
            ref, kind=a[0], digest=ws.get(ref).digest if a[2] else a[3], metrics=a[1]
        ),
        st.tuples(
            _names,
            st.dictionaries(_texts, _metric_values, max_size=4) | _metric_values,
            st.booleans(),
            _names,
        ),
    ),
    (
        "register_dataset name",
        lambda ws, ref, a: ws.register_dataset(
            a, ws.settings.home.parent / "qa.jsonl", shape="text"
        ),
        _names,
    ),
    (
        "register_dataset description and tags",
        lambda ws, ref, a: ws.register_dataset(
            "qa",
            ws.settings.home.parent / "qa.jsonl",
            shape="text",
            description=a[0],
            tags=a[1],
            meta=a[2],
        ),
        st.tuples(
            _names,
            st.dictionaries(_names, _names, max_size=2) | st.none(),
            st.dictionaries(_texts, _metric_values, max_size=2) | st.none(),
        ),
    ),
    (
        "request_promotion",
        lambda ws, ref, a: ws.governance.request_promotion(a[0], to=a[1]),
        st.tuples(_refs, _names),
    ),
    (
        "run_stage",
        lambda ws, ref, a: ws.run_stage(
            a[0], a[1], inputs={"dataset": a[2] or ref}, params=a[3], seed=a[4]
        ),
        st.tuples(
            _mostly(st.sampled_from(["data_preparation", "training"]), _names),
            _mostly(st.sampled_from(["length-filter", "dedup-exact", "dedup-near"]), _names),
            _mostly(st.none(), _refs),
            _mostly(
                st.just({}),
                st.dictionaries(
                    st.sampled_from(["min_chars", "max_chars", "threshold"]) | _texts,
                    st.integers(-5, 100) | st.floats(0, 1) | _metric_values,
                    max_size=2,
                ),
            ),
            _mostly(st.none(), st.integers(-(2**70), 2**70)),
        ),
    ),
    (
        "grant_role",
        lambda ws, ref, a: ws.governance.grant_role(a[0], a[1]),
        st.tuples(_names, _names | st.sampled_from(list(ROLES))),
    ),
]


@pytest.mark.parametrize(("name", "call", "args"), _SDK_CALLS, ids=[c[0] for c in _SDK_CALLS])
def test_fuzz_sdk_arguments(
    sdk: tuple[Workspace, str], name: str, call: Callable[..., Any], args: st.SearchStrategy[Any]
) -> None:
    ws, ref = sdk

    @settings(FUZZ, max_examples=40)
    @given(value=args)
    def check(value: Any) -> None:
        _outcome(f"SDK {name} ({ws.db.dialect})", lambda: call(ws, ref, value))

    check()


def test_fuzz_budget_report() -> None:
    """Prints the table of runs per fuzz target (for the closing note); checks each ran."""
    for test, tally in sorted(OUTCOMES.items()):
        print(f"{test:40} runs {tally['runs']:5}  refused {tally['refused']:5}  failures 0")
    assert all(t["runs"] > 0 for t in OUTCOMES.values())
