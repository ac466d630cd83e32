"""Fixtures for lmops-lm-eval tests: a tiny local model, its ONNX export, contexts, no network."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmops_core.contracts import InputAsset, NullProgress, Stage, StageContext
from lmops_core.offline import set_offline_defaults

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guard(address: Any) -> None:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost")):
        return
    if isinstance(host, str | bytes) and not isinstance(address, tuple):
        return  # AF_UNIX paths are local
    raise OSError(f"network access blocked in tests: {address!r}")


def _connect(self: socket.socket, address: Any) -> Any:
    _guard(address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> Any:
    _guard(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    """Every non-loopback connection raises for the whole session."""
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Llama-style model folder (hidden 64, 2 layers)."""
    from lmops_lm_eval.tinymodel import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported with ``torch.onnx.export`` plus its tokenizer files."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = tmp_path_factory.mktemp("onnx") / "model"
    folder.mkdir()
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits

    ids = torch.randint(0, 100, (2, 7))
    axes = {0: "batch", 1: "seq"}
    torch.onnx.export(
        Logits(), (ids, torch.ones_like(ids)), str(folder / "model.onnx"), dynamo=False,
        input_names=["input_ids", "attention_mask"], output_names=["logits"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": axes},
    )
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)  # chat template too
    shutil.copy(tiny_model / "config.json", folder / "config.json")
    return folder


def _model_input(path: Path, kind: str = "base", role: str = "model") -> InputAsset:
    return InputAsset(role=role, ref=f"tiny@{kind}", asset_type="model", kind=kind,
                      digest="sha256:" + "0" * 64, path=path)


def _make_context(
    workdir: Path, inputs: dict[str, InputAsset], params: dict[str, Any], operation: str,
    seed: int | None = None,
) -> StageContext:
    workdir.mkdir(parents=True, exist_ok=True)
    return StageContext(
        stage=Stage.EVALUATION, operation=operation, inputs=inputs, params=params,
        workdir=workdir, actor="tester", run_id="run-1", seed=seed, progress=NullProgress(),
    )


@pytest.fixture(scope="session")
def model_input() -> Any:
    """``model_input(path, kind="base", role="model")`` -> an InputAsset for a model folder."""
    return _model_input


@pytest.fixture(scope="session")
def make_context() -> Any:
    """``make_context(workdir, inputs, params, operation, seed=None)`` -> a real StageContext."""
    return _make_context
