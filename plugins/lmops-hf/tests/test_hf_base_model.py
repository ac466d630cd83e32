"""The offline base model: built, saved as safetensors, reloaded with no network."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from lmops_hf import datagen
from lmops_hf.base_model import DATA_DIR, create_base_model

from lmops_core.errors import ValidationError


def test_offline_switches_are_set() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["HF_DATASETS_OFFLINE"] == "1"


def test_tiny_base_reloads_offline(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    names = {p.name for p in tiny_model.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    } <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["hidden_size"] == 64 and config["num_hidden_layers"] == 2
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    text = tok.apply_chat_template(
        [{"role": "user", "content": "基瓦鸟是什么颜色？"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == "<|user|>基瓦鸟是什么颜色？<|end|><|assistant|>"
    assert tok.decode(tok("The kiva bird is blue.")["input_ids"]) == "The kiva bird is blue."
    assert tok.eos_token == "<|end|>" and tok.pad_token == "<|pad|>"


def test_same_seed_same_weights_other_seed_differs(tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    again = load_file(create_base_model(tmp_path / "a", seed=0) / "model.safetensors")
    other = load_file(create_base_model(tmp_path / "b", seed=1) / "model.safetensors")
    first = load_file(tiny_model / "model.safetensors")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_refuses_non_empty_folder_and_unknown_size(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValidationError, match="not empty"):
        create_base_model(tmp_path)
    with pytest.raises(ValidationError, match="unknown model size"):
        create_base_model(tmp_path / "new", size="huge")  # type: ignore[arg-type]


def test_shipped_data_is_what_the_generator_writes(tmp_path: Path) -> None:
    written = datagen.write(tmp_path)
    for name, path in written.items():
        assert path.read_bytes() == (DATA_DIR / name).read_bytes(), name
    train = [json.loads(x) for x in (DATA_DIR / "instructions.jsonl").open(encoding="utf-8")]
    held = [json.loads(x) for x in (DATA_DIR / "instructions_heldout.jsonl").open(encoding="utf-8")]
    assert len(train) >= 300 and len(held) >= 100
    # Held-out prompts are phrasings never seen in training.
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in held}
