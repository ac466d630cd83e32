"""lmops-lm-eval's tests never reach the network; models, contexts: lmops_core.testing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lmops_lm_eval.models import LoadedModel, load_role

from lmops_core.contracts import InputAsset, StageContext
from lmops_core.plugins import PluginHost
from lmops_core.testing import StageContexts, TinyModels
from lmops_core.testing import model_input as kit_model_input


@pytest.fixture(autouse=True)
def _offline(no_network: list[object]) -> Iterator[list[object]]:
    """Every non-loopback connection or lookup fails the test."""
    yield no_network


@pytest.fixture(scope="session")
def tiny_onnx(tiny_models: TinyModels) -> Path:
    """The kit's tiny model exported by the ``onnx`` runtime."""
    return tiny_models("onnx")


@pytest.fixture
def torch_and_onnx(
    stage_context: StageContexts, tiny_model: Path, tiny_onnx: Path
) -> tuple[LoadedModel, LoadedModel]:
    """The kit's tiny model loaded on torch, and its ONNX export on ONNX Runtime."""
    ctx = stage_context(
        "serving-perf",
        {"model": kit_model_input(tiny_model), "onnx": kit_model_input(tiny_onnx, "onnx")},
        validate=False,
    )
    return load_role(ctx, "model"), load_role(ctx, "onnx")


@pytest.fixture(scope="session")
def model_input() -> Callable[..., InputAsset]:
    """``model_input(path, kind="base", role="model")``: the kit's model input."""
    return kit_model_input


@pytest.fixture(scope="session")
def suite_input() -> Callable[[Path], InputAsset]:
    """``suite_input(folder)``: a suite as the core hands it over, its code files listed."""

    def make(folder: Path) -> InputAsset:
        code = [
            {"path": p.relative_to(folder).as_posix(), "digest": "sha256:" + "1" * 64}
            for p in sorted(folder.rglob("*.py"))
        ]
        return InputAsset(
            role="suite",
            ref="suite:user@1",
            asset_type="suite",
            kind="suite",
            digest="sha256:" + "2" * 64,
            path=folder,
            metadata={"code_files": code},
        )

    return make


@pytest.fixture(scope="session")
def make_context(
    lmops_plugins: PluginHost, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., StageContext]:
    """``make_context(workdir, inputs, params, operation, seed=None)``: an evaluation context,
    parameters unchecked (the evaluators' own checks are under test)."""
    stage_context = StageContexts(tmp_path_factory.mktemp("contexts"), lmops_plugins)

    def make(
        workdir: Path,
        inputs: dict[str, InputAsset],
        params: dict[str, Any],
        operation: str,
        seed: int | None = None,
    ) -> StageContext:
        return stage_context(
            operation,
            inputs,
            params,
            stage="evaluation",
            seed=seed,
            validate=False,
            workdir=workdir,
        )

    return make
