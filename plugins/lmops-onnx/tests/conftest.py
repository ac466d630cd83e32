"""Fixtures of lmops-onnx's tests: the kit's tiny model, trained a little, and its exports.

The tiny model comes from ``lmops_core.testing`` (built by the runtime lmops-hf
registers); a few optimizer steps on a short corpus make its logits peaked like a
trained model's, so int8 and fp32 can be compared. Exports and quantizations are
session-scoped because they are the slow part; each test reads their results
without changing them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from lmops_onnx.operations import OnnxExport, OnnxInt8

from lmops_core.contracts import StageContext, StageResult
from lmops_core.plugins import PluginHost
from lmops_core.testing import StageContexts, TinyModels, dataset_input, model_input, write_jsonl

CORPUS = [
    "The river rises in the hills and runs west to the sea.",
    "A model registry keeps every version of a model and its data.",
    "Reviewers read the evidence before they approve a model.",
    "Quantization stores weights with fewer bits to save memory.",
    "The market in the square opens every Saturday morning.",
    "She walked up to the old lighthouse when the wind turned cold.",
    "Children learn to read by listening to stories and asking questions.",
    "The train to the capital leaves every hour from the station.",
    "user: hello there\nassistant: hello, how can I help you today?",
]

Inputs = Mapping[str, tuple[str, str, Path]]
OPERATIONS = {"onnx-export": OnnxExport, "onnx-int8": OnnxInt8}


def _fit(folder: Path, steps: int = 60) -> Path:
    """A few optimizer steps on the corpus, so logits are peaked like a trained model's.

    Random weights give near-uniform logits whose top token flips on rounding
    noise; comparing int8 with fp32 on such a model measures nothing.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # on a busy shared machine extra torch threads only spin
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    batch = tokenizer(CORPUS, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels
        ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kit's tiny model (kind "base"), trained a little (a copy)."""
    folder = tmp_path_factory.mktemp("trained") / "model"
    shutil.copytree(tiny_model, folder)
    return _fit(folder)


@pytest.fixture(scope="session")
def adapter_dir(tiny_models: TinyModels) -> Path:
    """The kit's LoRA adapter (non-zero weights) over the kit's tiny base model."""
    return tiny_models("adapter")


@pytest.fixture(scope="session")
def contexts(
    lmops_plugins: PluginHost, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., StageContext]:
    """``contexts(operation, {role: (asset_type, kind, path)}, params)``: a checked context."""
    build = StageContexts(tmp_path_factory.mktemp("onnx-work"), lmops_plugins)

    def make(
        operation: str, inputs: Inputs, params: Mapping[str, Any] | None = None
    ) -> StageContext:
        assets = {
            role: model_input(path, kind, role)
            if asset_type == "model"
            else dataset_input(path, shape=kind, role=role)
            for role, (asset_type, kind, path) in inputs.items()
        }
        return build(OPERATIONS[operation](), assets, params, stage="compression")

    return make


@pytest.fixture
def context_factory(contexts: Callable[..., StageContext]) -> Callable[..., StageContext]:
    """The same factory, for tests."""
    return contexts


@pytest.fixture(scope="session")
def heldout_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A held-out "text" dataset version."""
    return write_jsonl(
        tmp_path_factory.mktemp("heldout") / "heldout.jsonl", [{"text": line} for line in CORPUS]
    )


@pytest.fixture(scope="session")
def compress(contexts: Callable[..., StageContext]) -> Callable[..., StageResult]:
    """``compress(operation, inputs)``: run it with two latency repeats on one thread."""

    def run(operation: str, inputs: Inputs) -> StageResult:
        ctx = contexts(operation, inputs, {"latency_repeats": 2, "threads": 1})
        result: StageResult = OPERATIONS[operation]().run(ctx)
        return result

    return run


@pytest.fixture(scope="session")
def export_result(
    compress: Callable[..., StageResult], tiny_model_dir: Path, heldout_path: Path
) -> StageResult:
    """``onnx-export`` run on the tiny model, with a held-out dataset."""
    return compress(
        "onnx-export",
        {"model": ("model", "base", tiny_model_dir), "heldout": ("dataset", "text", heldout_path)},
    )


@pytest.fixture(scope="session")
def onnx_dir(export_result: StageResult) -> Path:
    """The fp32 ONNX folder written by ``onnx-export``."""
    return export_result.outputs[0].path


@pytest.fixture(scope="session")
def int8_result(
    compress: Callable[..., StageResult], onnx_dir: Path, heldout_path: Path
) -> StageResult:
    """``onnx-int8`` (dynamic) on the fp32 ONNX export."""
    return compress(
        "onnx-int8",
        {"model": ("model", "onnx", onnx_dir), "heldout": ("dataset", "text", heldout_path)},
    )


@pytest.fixture(scope="session")
def int8_dir(int8_result: StageResult) -> Path:
    """The int8 ONNX folder written by ``onnx-int8``."""
    return int8_result.outputs[0].path


@pytest.fixture(scope="session")
def adapter_int8_result(
    compress: Callable[..., StageResult], tiny_model: Path, adapter_dir: Path
) -> StageResult:
    """``onnx-int8`` straight from base + LoRA adapter: merge, export and quantize in one run."""
    return compress(
        "onnx-int8",
        {"model": ("model", "adapter", adapter_dir), "base": ("model", "base", tiny_model)},
    )
