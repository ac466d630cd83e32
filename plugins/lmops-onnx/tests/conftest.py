"""Fixtures of lmops-onnx's tests: a tiny Llama-style model built locally, and its exports.

The model has random weights (hidden size 64, two layers) and a byte-level
BPE tokenizer trained with ``tokenizers`` on a few sentences; nothing is
downloaded. Exports and quantizations are session-scoped because they are the
slow part; each test reads their results without changing them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from lmops_core.contracts import InputAsset, NullProgress, Stage, StageContext, StageResult
from lmops_core.offline import set_offline_defaults

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()

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


def build_tiny_model(folder: Path, *, seed: int = 0) -> Path:
    """Write a random-weight Llama-style causal LM and its tokenizer to ``folder``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    _fit(model, tokenizer)
    model.eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def _fit(model: Any, tokenizer: Any, steps: int = 60) -> None:
    """A few optimizer steps on the corpus, so logits are peaked like a trained model's.

    Random weights give near-uniform logits whose top token flips on rounding
    noise; comparing int8 with fp32 on such a model measures nothing.
    """
    import torch

    # One thread: on a busy shared machine two torch threads contend and run 40x slower.
    torch.set_num_threads(1)
    batch = tokenizer(CORPUS, padding=True, return_tensors="pt") if tokenizer.pad_token else None
    if batch is None:
        tokenizer.pad_token = tokenizer.eos_token
        batch = tokenizer(CORPUS, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def build_adapter(base_dir: Path, folder: Path) -> Path:
    """Write a LoRA adapter over ``base_dir`` whose weights are not zero (so merging matters)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), local_files_only=True)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(str(folder))
    return folder


def make_context(
    workdir: Path,
    operation: str,
    inputs: Mapping[str, tuple[str, str, Path]],
    params: Mapping[str, Any] | None = None,
) -> StageContext:
    """A real StageContext; ``inputs`` maps role -> (asset_type, kind, path).

    Parameters are validated against the operation's declared model exactly as
    the core's runner does (a bad one raises the core's ValidationError here).
    """
    from lmops_onnx.operations import OnnxExport, OnnxInt8

    from lmops_core.operations import describe, validate_params

    op = {"onnx-export": OnnxExport, "onnx-int8": OnnxInt8}[operation]()
    checked, options = validate_params(describe(op, plugin="lmops-onnx", hook="test"),
                                       dict(params or {}))
    workdir.mkdir(parents=True, exist_ok=True)
    assets = {
        role: InputAsset(role=role, ref=f"test/{role}@1", asset_type=asset_type,  # type: ignore[arg-type]
                         kind=kind, digest="sha256:" + "0" * 64, path=path)
        for role, (asset_type, kind, path) in inputs.items()
    }
    return StageContext(stage=Stage.COMPRESSION, operation=operation, inputs=assets,
                        params=checked, workdir=workdir, actor="tester",
                        run_id="run-test", seed=0, progress=NullProgress(), options=options)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    """Write records as a canonical JSONL dataset file."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama model folder (kind "base")."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def heldout_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A held-out "text" dataset version."""
    folder = tmp_path_factory.mktemp("heldout")
    return write_jsonl(folder / "heldout.jsonl", [{"text": line} for line in CORPUS])


@pytest.fixture(scope="session")
def export_result(tiny_model_dir: Path, heldout_path: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> StageResult:
    """``onnx-export`` run on the tiny model, with a held-out dataset."""
    from lmops_onnx.operations import OnnxExport

    ctx = make_context(
        tmp_path_factory.mktemp("export-work"), "onnx-export",
        {"model": ("model", "base", tiny_model_dir),
         "heldout": ("dataset", "text", heldout_path)},
        {"latency_repeats": 2, "threads": 1},
    )
    return OnnxExport().run(ctx)


@pytest.fixture(scope="session")
def onnx_dir(export_result: StageResult) -> Path:
    """The fp32 ONNX folder written by ``onnx-export``."""
    return export_result.outputs[0].path


@pytest.fixture(scope="session")
def int8_result(onnx_dir: Path, heldout_path: Path,
                tmp_path_factory: pytest.TempPathFactory) -> StageResult:
    """``onnx-int8`` (dynamic) on the fp32 ONNX export."""
    from lmops_onnx.operations import OnnxInt8

    ctx = make_context(tmp_path_factory.mktemp("int8-work"), "onnx-int8",
                       {"model": ("model", "onnx", onnx_dir),
                        "heldout": ("dataset", "text", heldout_path)},
                       {"latency_repeats": 2, "threads": 1})
    return OnnxInt8().run(ctx)


@pytest.fixture(scope="session")
def int8_dir(int8_result: StageResult) -> Path:
    """The int8 ONNX folder written by ``onnx-int8``."""
    return int8_result.outputs[0].path


@pytest.fixture(scope="session")
def adapter_int8_result(tiny_model_dir: Path, adapter_dir: Path,
                        tmp_path_factory: pytest.TempPathFactory) -> StageResult:
    """``onnx-int8`` straight from base + LoRA adapter: merge, export and quantize in one run."""
    from lmops_onnx.operations import OnnxInt8

    ctx = make_context(tmp_path_factory.mktemp("adapter-int8-work"), "onnx-int8",
                       {"model": ("model", "adapter", adapter_dir),
                        "base": ("model", "base", tiny_model_dir)},
                       {"latency_repeats": 2, "threads": 1})
    return OnnxInt8().run(ctx)


@pytest.fixture
def context_factory(tmp_path: Path) -> Callable[..., StageContext]:
    """Build a StageContext in a fresh working folder."""
    counter = iter(range(1000))

    def factory(operation: str, inputs: Mapping[str, tuple[str, str, Path]],
                params: Mapping[str, Any] | None = None) -> StageContext:
        return make_context(tmp_path / f"work{next(counter)}", operation, inputs, params)

    return factory


@pytest.fixture(scope="session")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter (kind "adapter") over the tiny model, with non-zero weights."""
    return build_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "adapter")
