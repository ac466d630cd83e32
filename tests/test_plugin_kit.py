"""The plugin kit's BaseOperation: declarations read from the class, parameters checked once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

import pytest
from pydantic import Field

from lmops_core.contracts import OperationParams, Stage, StageContext, StageResult
from lmops_core.errors import PluginError, ValidationError
from lmops_core.kit import BaseOperation, build_guard, registers, report_sections, summary
from lmops_core.operations import describe
from lmops_core.runtimes import Guard


class CountParams(OperationParams):
    """Parameters of the counter."""

    limit: int = Field(3, ge=1)


class Count(BaseOperation[CountParams]):
    """Count the records of a dataset,
    up to a limit.

    Only the first paragraph is the description.
    """

    name = "count"
    input_roles = {"dataset": "dataset"}
    evidence_kinds = ("count",)

    def execute(self, context: StageContext, params: CountParams) -> StageResult:
        return StageResult(metrics={"limit": float(params.limit)})


class CountMore(Count):
    """A variant whose own docstring does not replace the inherited description."""


P = TypeVar("P", bound=OperationParams)


class Counting(BaseOperation[P]):
    """A generic base of operations that count."""


class CountAll(Counting[CountParams]):
    """Count every record."""

    name = "count-all"


def _context(tmp_path: Path, params: dict[str, object], options: object = None) -> StageContext:
    return StageContext(
        stage=Stage.EVALUATION,
        operation="count",
        inputs={},
        params=params,
        workdir=tmp_path,
        actor="tester",
        run_id="r1",
        options=options,
    )


def test_declarations_come_from_the_class_and_its_docstring() -> None:
    spec = describe(Count(), plugin="kit-test", hook="register_evaluators")
    assert spec.description == "Count the records of a dataset, up to a limit."
    assert spec.params_model is CountParams
    assert spec.input_roles == {"dataset": ("dataset",)}
    assert spec.evidence_kinds == ("count",)
    assert CountMore.description == Count.description
    assert CountMore.params_model is CountParams
    assert CountAll.params_model is CountParams and CountAll.description == "Count every record."


def test_run_validates_the_parameters_and_hands_them_over_typed(tmp_path: Path) -> None:
    assert Count().run(_context(tmp_path, {})).metrics == {"limit": 3.0}
    assert Count().run(_context(tmp_path, {"limit": 5})).metrics == {"limit": 5.0}
    # Through the runner the validated model is already on the context: used as is.
    done = CountParams(limit=9)
    assert Count().run(_context(tmp_path, {"limit": 1}, done)).metrics == {"limit": 9.0}
    with pytest.raises(ValidationError, match='parameter "limit"') as bad:
        Count().run(_context(tmp_path, {"limit": 0}))
    assert bad.value.details["param"] == "limit"
    with pytest.raises(ValidationError, match='unknown parameter "limt"'):
        Count().run(_context(tmp_path, {"limt": 2}))


def test_an_operation_without_execute_says_so(tmp_path: Path) -> None:
    class Idle(BaseOperation[CountParams]):
        """Do nothing."""

        name = "idle"

    with pytest.raises(NotImplementedError, match="'idle' does not implement execute"):
        Idle().run(_context(tmp_path, {}))


def test_summary_is_the_first_paragraph_on_one_line() -> None:
    assert summary("  One\n    two.\n\n    Three.") == "One two."
    assert summary(None) == ""


def test_registers_imports_its_targets_only_when_the_hook_is_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "kit_lazy_targets.py").write_text(
        "class Op:\n    pass\n\nKINDS = ('a', 'b')\nONE = 'one'\n\n"
        "def section(facts):\n    return ('section of', facts)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "kit_lazy_targets", raising=False)
    hook = registers("kit_lazy_targets:Op", "kit_lazy_targets:KINDS", "kit_lazy_targets:ONE", 7)
    sections = report_sections("kit_lazy_targets:section")
    assert "kit_lazy_targets" not in sys.modules
    seen: list[object] = []
    hook(seen.append)
    assert type(seen[0]).__name__ == "Op" and seen[1:] == ["a", "b", "one", 7]
    assert sections("facts") == [("section of", "facts")]  # type: ignore[arg-type]
    # Both carry the hookimpl marker, so the plugin manager sees them under their module names.
    assert hasattr(hook, "lmops_impl") and hasattr(sections, "lmops_impl")


class _Guards:
    """A guard source offering the guards it is given."""

    def __init__(self, *guards: Guard) -> None:
        self.guards = {g.name: g for g in guards}

    def find_guard(self, name: str) -> Guard | None:
        return self.guards.get(name)


def test_build_guard_builds_the_named_guard_or_says_what_to_install() -> None:
    class NoFindings:
        """A text guard that finds nothing (the methods a TextGuard has)."""

        def __init__(self, **options: object) -> None:
            self.options = options

        def scan(self, text: str) -> list[object]:
            return []

        def scan_batch(self, texts: list[str]) -> list[list[object]]:
            return [[] for _ in texts]

        def redact(self, text: str) -> object:
            return text

        def redact_batch(self, texts: list[str]) -> list[object]:
            return list(texts)

        def describe(self) -> dict[str, object]:
            return {}

    source = _Guards(Guard(name="pii", factory=NoFindings, description="finds nothing"))
    guard = build_guard(source, "pii", needed_by="lmops-x", install="lmops-y", patterns_only=True)
    assert isinstance(guard, NoFindings) and guard.options == {"patterns_only": True}
    with pytest.raises(PluginError, match=r'lmops-x needs the "pii" guard, .*pip install lmops-y'):
        build_guard(_Guards(), "pii", needed_by="lmops-x", install="lmops-y")
