"""Operations describe themselves; the runner holds every run to the declaration."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from lmops_core import hookimpl
from lmops_core.contracts import (
    EvidenceKind,
    NoParams,
    OperationParams,
    Register,
    Stage,
    StageContext,
    StageResult,
)
from lmops_core.errors import PluginError, ValidationError
from lmops_core.operations import describe
from lmops_core.plugins import load_plugins
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings, write_jsonl


class ProbeParams(OperationParams):
    """Parameters of the probe."""

    depth: int = Field(2, ge=1, le=10, description="how deep")
    label: str = "x"
    ratio: float = 0.5


class Probe:
    """Records what it was given."""

    name = "probe"
    description = "Look at a model."
    params_model = ProbeParams
    input_roles = {"model": "model", "notes": ("dataset", "prompt")}
    evidence_kinds: tuple[str, ...] = ()
    seen: list[StageContext] = []

    def run(self, context: StageContext) -> StageResult:
        Probe.seen.append(context)
        return StageResult()


def _plugin(*ops: Any, kinds: tuple[EvidenceKind, ...] = ()) -> types.ModuleType:
    module = types.ModuleType("probe_plugin")

    @hookimpl
    def register_evaluators(register: Register) -> None:
        for op in ops:
            register(op)

    @hookimpl
    def register_evidence_kinds(register: Register) -> None:
        for kind in kinds:
            register(kind)

    module.register_evaluators = register_evaluators  # type: ignore[attr-defined]
    module.register_evidence_kinds = register_evidence_kinds  # type: ignore[attr-defined]
    return module


@pytest.fixture
def probe_ws(sqlite_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A workspace whose plugins include the probe, loaded from a module path."""
    import sys

    monkeypatch.setitem(sys.modules, "probe_plugin", _plugin(Probe()))
    Probe.seen.clear()
    with Workspace.open(make_settings(sqlite_home, plugins=["probe_plugin"])) as ws:
        yield ws


def _model(ws: Workspace, tmp_path: Path) -> str:
    return ws.register_model("m", make_model_folder(tmp_path / "m")).ref


def test_params_are_validated_and_defaults_filled(probe_ws: Workspace, tmp_path: Path) -> None:
    model = _model(probe_ws, tmp_path)
    out = probe_ws.run_stage(
        "evaluation", "probe", inputs={"model": model}, params={"depth": 4, "ratio": 1}
    )
    [context] = Probe.seen
    assert dict(context.params) == {"depth": 4, "label": "x", "ratio": 1.0}
    assert isinstance(context.options, ProbeParams) and context.options.depth == 4
    # the run records the parameters as given (plus whatever the operation reports it used)
    assert probe_ws.run(out.run_id).params == {"depth": 4, "ratio": 1}


@pytest.mark.parametrize(
    ("params", "param", "says"),
    [
        ({"depht": 4}, "depht", 'unknown parameter "depht" (accepted: depth, label, ratio)'),
        ({"depth": "4"}, "depth", 'parameter "depth": Input should be a valid integer'),
        ({"depth": True}, "depth", 'parameter "depth": Input should be a valid integer'),
        ({"depth": 11}, "depth", 'parameter "depth": Input should be less than or equal to 10'),
        ({"label": 3}, "label", 'parameter "label": Input should be a valid string'),
    ],
)
def test_bad_params_have_one_error_shape(
    probe_ws: Workspace, tmp_path: Path, params: dict[str, Any], param: str, says: str
) -> None:
    model = _model(probe_ws, tmp_path)
    with pytest.raises(ValidationError) as caught:
        probe_ws.run_stage("evaluation", "probe", inputs={"model": model}, params=params)
    assert caught.value.details == {"param": param}
    assert caught.value.message.startswith(f'operation "probe": {says}')
    assert Probe.seen == []  # refused before the operation ran
    assert probe_ws.runs()[0].status == "failed"  # the attempt stays visible


def test_unknown_role_is_refused(probe_ws: Workspace, tmp_path: Path) -> None:
    model = _model(probe_ws, tmp_path)
    with pytest.raises(
        ValidationError,
        match=r'unknown input role "base" \(it takes: model, '
        r"notes\)",
    ) as caught:
        probe_ws.run_stage("evaluation", "probe", inputs={"model": model, "base": model})
    assert caught.value.details == {"field": "inputs.base"}
    assert Probe.seen == [] and probe_ws.runs() == []


def test_input_of_the_wrong_asset_type_is_refused(probe_ws: Workspace, tmp_path: Path) -> None:
    data = probe_ws.register_dataset(
        "d", write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}]), shape="text"
    ).ref
    with pytest.raises(
        ValidationError,
        match=r'input role "model" takes a model, not '
        r"'dataset:d@1'",
    ):
        probe_ws.run_stage("evaluation", "probe", inputs={"model": data})
    assert Probe.seen == []


class _Op:
    name = "op"
    description = "One line."

    def run(self, context: StageContext) -> StageResult:
        return StageResult()


@pytest.mark.parametrize(
    ("attrs", "says"),
    [
        ({"description": "two\nlines"}, "description must be one non-empty line"),
        ({"params_model": dict}, "params_model must be a pydantic model class"),
        ({"input_roles": {"model": "weights"}}, "input role 'model' -> 'weights'"),
        ({"input_roles": {"../x": "model"}}, "input role '../x'"),
        ({"evidence_kinds": "eval"}, "evidence_kinds must be a tuple of kind names"),
        ({"reads_inputs": "no"}, "reads_inputs must be True or False"),
        ({"reads_stored_partitions": 1}, "reads_stored_partitions must be True or False"),
    ],
)
def test_bad_declarations_are_refused_naming_the_plugin(attrs: dict[str, Any], says: str) -> None:
    op = type("Bad", (_Op,), attrs)()
    with pytest.raises(PluginError, match='plugin "acme" operation "op"') as caught:
        describe(op, plugin="acme", hook="register_evaluators")
    assert says in caught.value.message


def test_promising_an_undeclared_evidence_kind_fails_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    op = type("Promises", (_Op,), {"evidence_kinds": ("nowhere",), "params_model": NoParams})()
    monkeypatch.setitem(sys.modules, "promising_plugin", _plugin(op))
    with pytest.raises(
        PluginError, match='records evidence kind "nowhere", which no plugin declares'
    ):
        load_plugins(make_settings(tmp_path, plugins=["promising_plugin"]))
    declared = _plugin(op, kinds=(EvidenceKind("nowhere", "now somewhere"),))
    monkeypatch.setitem(sys.modules, "promising_plugin", declared)
    host = load_plugins(make_settings(tmp_path, plugins=["promising_plugin"]))
    assert host.operations[Stage.EVALUATION]["op"].spec.evidence_kinds == ("nowhere",)


def test_builtin_steps_describe_themselves(tmp_path: Path) -> None:
    host = load_plugins(make_settings(tmp_path))
    for reg in host.operations[Stage.DATA_PREPARATION].values():
        assert reg.spec is not None and reg.spec.params_model is not None
        assert reg.spec.input_roles == {"dataset": ("dataset",)}
        assert reg.spec.evidence_kinds == ("data_step",)
