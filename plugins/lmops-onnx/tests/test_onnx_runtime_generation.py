"""OrtCausalLM / OrtGenerator: greedy equals torch, streaming equals one-shot, seeded sampling."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from lmops_onnx.runtime import OrtCausalLM, OrtGenerator

from lmops_core.errors import ValidationError
from lmops_core.runtimes import GenerationOptions


def _greedy_by_hand(model: OrtCausalLM, ids: list[int], steps: int) -> list[int]:
    out = list(ids)
    for _ in range(steps):
        out.append(int(model.logits(np.asarray([out]))[0, -1].argmax()))
    return out[len(ids) :]


def test_greedy_ids_equal_a_hand_loop_and_torch_generate(
    onnx_dir: Path, tiny_model_dir: Path
) -> None:
    from transformers import AutoModelForCausalLM

    model = OrtCausalLM.from_folder(onnx_dir)
    prompt = [1, 40, 41, 42, 43]
    streamed = list(model.generate_ids(prompt, 10))
    assert streamed == _greedy_by_hand(model, prompt, 10)

    torch_model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    with torch.inference_mode():
        out = torch_model.generate(
            torch.tensor([prompt]),
            max_new_tokens=10,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )
    assert streamed == out[0, len(prompt) :].tolist()


def test_generation_stops_at_eos_without_yielding_it(onnx_dir: Path) -> None:
    model = OrtCausalLM.from_folder(onnx_dir)
    prompt = [1, 50, 60]
    free = list(model.generate_ids(prompt, 8))
    stopped = list(model.generate_ids(prompt, 8, eos_token_id=free[3]))
    assert stopped == free[: free.index(free[3])]


def test_stream_pieces_join_to_generate(onnx_dir: Path) -> None:
    generator = OrtGenerator(onnx_dir)
    options = GenerationOptions(max_new_tokens=12)
    pieces = list(generator.stream("The river rises", options))
    assert len(pieces) >= 2
    text = generator.generate("The river rises", options)
    assert "".join(pieces) == text
    ids = list(
        generator.model.generate_ids(
            generator.encode_prompt("The river rises"), 12, eos_token_id=generator.eos_token_id
        )
    )
    assert text == generator.tokenizer.decode(ids, skip_special_tokens=True)


def test_seeded_sampling_is_reproducible(onnx_dir: Path) -> None:
    model = OrtCausalLM.from_folder(onnx_dir)
    prompt = [1, 70, 71]

    def sample(seed: int) -> list[int]:
        return list(
            model.generate_ids(prompt, 15, do_sample=True, temperature=1.0, top_k=50, seed=seed)
        )

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)
    # top_k=1 leaves only the greedy choice.
    assert list(model.generate_ids(prompt, 6, do_sample=True, top_k=1, seed=3)) == list(
        model.generate_ids(prompt, 6)
    )
    generator = OrtGenerator(onnx_dir)
    sampled = GenerationOptions(max_new_tokens=10, do_sample=True, seed=5)
    assert generator.generate("Hello", sampled) == generator.generate("Hello", sampled)


def test_chat_template_is_applied_when_present(onnx_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "chat"
    shutil.copytree(onnx_dir, folder)
    tokenizer = OrtGenerator(folder).tokenizer
    assert tokenizer.chat_template  # the kit's tiny model ships the lmops chat template
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello there"}], add_generation_prompt=True, tokenize=False
    )
    templated = OrtGenerator(folder).encode_prompt("hello there")
    assert templated == tokenizer(text, add_special_tokens=False)["input_ids"]
    # Without a template the prompt is tokenized as it is.
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    raw = OrtGenerator(folder).encode_prompt("hello there")
    assert raw == tokenizer("hello there")["input_ids"]
    assert templated != raw


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": -1}, "max_new_tokens"),
        ({"max_new_tokens": 3, "do_sample": True, "temperature": 0.0}, "temperature"),
        ({"max_new_tokens": 3, "top_k": -2}, "top_k"),
    ],
)
def test_bad_generation_arguments(onnx_dir: Path, kwargs: dict[str, object], message: str) -> None:
    model = OrtCausalLM.from_folder(onnx_dir)
    with pytest.raises(ValidationError, match=message):
        list(model.generate_ids([1, 2], **kwargs))  # type: ignore[arg-type]


def test_logits_refuse_out_of_vocabulary_ids(onnx_dir: Path) -> None:
    model = OrtCausalLM.from_folder(onnx_dir)
    with pytest.raises(ValidationError, match="input_ids must lie in"):
        model.logits(np.asarray([[1, 100000]]))
    with pytest.raises(ValidationError, match="shape"):
        model.logits(np.asarray([1, 2, 3]))
