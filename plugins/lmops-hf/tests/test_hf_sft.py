"""The "sft" operation run through a real StageContext on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lmops_hf.chat import instruction_messages
from lmops_hf.generation import load_causal_lm
from lmops_hf.loading import load_tokenizer
from lmops_hf.sft import SftTrainer, encode_example
from safetensors.torch import load_file

from lmops_core.errors import StageError, UnsafeContentError, ValidationError

FAST = {"batch_size": 8, "learning_rate": 1e-2, "checkpoint_every": 100}


def adapter_weights(result_path: Path) -> dict[str, torch.Tensor]:
    return load_file(result_path / "adapter_model.safetensors")


@pytest.fixture
def sft(tiny_model, small_instructions, make_context):
    """``sft(params, base=tiny_model, **options)``: an "sft" context over ``base`` and the
    small instruction set (``options``: ``seed``, ``progress``)."""

    def build(params=None, *, base=tiny_model, **options):
        return make_context("sft", base, small_instructions, "instruction", params, **options)

    return build


def test_lora_sft_learns_and_describes_outputs(tiny_model, sft, recording_progress) -> None:
    ctx = sft(
        {**FAST, "max_steps": 12, "merge": True, "modules_to_save": ["lm_head"]},
        progress=recording_progress,
    )
    result = SftTrainer().run(ctx)

    losses = result.series["loss"]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.05
    adapter, merged = result.outputs
    assert (adapter.role, adapter.kind, list(adapter.derived_from)) == (
        "adapter",
        "adapter",
        ["base", "dataset"],
    )
    assert (merged.role, merged.kind, list(merged.derived_from)) == (
        "merged",
        "merged",
        ["base", "dataset"],
    )
    assert adapter.metadata["base_digest"] == ctx.inputs["base"].digest
    assert (adapter.path / "adapter_config.json").is_file()
    assert (adapter.path / "adapter_model.safetensors").is_file()
    assert (merged.path / "model.safetensors").is_file()
    assert adapter.path.is_relative_to(ctx.workdir) and merged.path.is_relative_to(ctx.workdir)
    assert not list(ctx.workdir.rglob("*.bin")) or all(
        p.name == "training_args.bin" for p in ctx.workdir.rglob("*.bin")
    )

    m = result.metrics
    # LoRA on every projection plus a fully trained lm_head (64 x vocab).
    assert 0.2 < m["trainable_fraction"] < 0.5
    assert m["tokens_per_s"] > 0 and m["duration_s"] > 0 and m["train_loss"] > 0
    assert result.params["method"] == "lora" and result.params["lora_r"] == 8
    assert {"torch", "transformers", "peft"} <= set(result.info["libraries"])
    assert result.info["seed"] == 0
    assert {e.kind for e in result.evidence} == {"training"}
    assert {e.subject for e in result.evidence} == {"adapter", "merged"}
    assert result.evidence[0].metrics["method"] == "lora"

    assert recording_progress.started == [("training", 12)]
    assert sum(a for a, _ in recording_progress.advances) == 12
    assert all("loss" in f for _, f in recording_progress.advances)

    # The merged folder and the adapter applied on its base compute the same logits.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[3, 40, 41, 42, 2, 4]])
    base_model = AutoModelForCausalLM.from_pretrained(tiny_model, use_safetensors=True)
    with_adapter = PeftModel.from_pretrained(base_model, adapter.path).eval()
    merged_model, _ = load_causal_lm(merged.path)
    on_the_fly, _ = load_causal_lm(adapter.path, base=tiny_model)
    with torch.no_grad():
        a = with_adapter(input_ids=ids).logits
        b = merged_model(input_ids=ids).logits
        c = on_the_fly(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-5)


def test_same_seed_same_weights_and_resume_equals_uninterrupted(sft) -> None:
    # Dropout on: resumption must restore the RNG too, not only weights and optimizer.
    params = {**FAST, "max_steps": 6, "checkpoint_every": 2, "lora_dropout": 0.1}
    full = SftTrainer().run(sft(params))
    again = SftTrainer().run(sft(params))
    other = SftTrainer().run(sft(params, seed=1))
    assert 0 < full.metrics["trainable_fraction"] < 0.1
    w_full = adapter_weights(full.outputs[0].path)
    w_again = adapter_weights(again.outputs[0].path)
    w_other = adapter_weights(other.outputs[0].path)
    assert all(torch.equal(w_full[k], w_again[k]) for k in w_full)
    assert not all(torch.equal(w_full[k], w_other[k]) for k in w_full)

    first = sft({**params, "max_steps_this_session": 3})
    with pytest.raises(StageError, match="stopped after step 3") as stopped:
        SftTrainer().run(first)
    checkpoint = Path(stopped.value.details["checkpoint"])
    assert checkpoint == first.workdir / "checkpoints" / "checkpoint-3"

    resumed = SftTrainer().run(sft({**params, "resume_from": str(checkpoint)}))
    w_resumed = adapter_weights(resumed.outputs[0].path)
    assert all(torch.equal(w_full[k], w_resumed[k]) for k in w_full)
    assert resumed.series["loss"] == pytest.approx(full.series["loss"], abs=1e-6)

    # A checkpoint from other settings is refused, naming the param that differs.
    with pytest.raises(ValidationError, match="'learning_rate'"):
        SftTrainer().run(sft({**params, "learning_rate": 5e-3, "resume_from": str(checkpoint)}))


def test_full_fine_tuning_on_dialogues(tiny_model, small_dialogues, make_context) -> None:
    threads = torch.get_num_threads()
    result = SftTrainer().run(
        make_context(
            "sft",
            tiny_model,
            small_dialogues,
            "dialogue",
            {**FAST, "method": "full", "max_steps": 3, "learning_rate": 1e-3, "threads": 1},
        )
    )
    assert torch.get_num_threads() == threads  # one thread while training, then as before
    assert result.params["threads"] == 1
    (out,) = result.outputs
    assert (out.role, out.kind, list(out.derived_from)) == ("model", "full", ["base", "dataset"])
    assert result.metrics["trainable_fraction"] == 1.0
    assert (out.path / "model.safetensors").is_file()
    before = load_file(tiny_model / "model.safetensors")
    after = load_file(out.path / "model.safetensors")
    assert not torch.equal(
        before["model.layers.0.mlp.up_proj.weight"], after["model.layers.0.mlp.up_proj.weight"]
    )


def test_loss_only_on_assistant_tokens(tiny_model: Path) -> None:
    tok = load_tokenizer(tiny_model)
    record = {"prompt": "What is 2 + 3?", "response": "2 + 3 = 5.", "system": "Be brief."}
    ex = encode_example(tok, instruction_messages(record), 256)
    assert ex is not None
    learned = [t for t in ex["labels"] if t != -100]
    assert tok.decode(learned) == "2 + 3 = 5.<|end|>"
    assert encode_example(tok, instruction_messages(record), 4) is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lora_rank": 4}, 'unknown parameter "lora_rank"'),
        ({"lora_r": True}, 'parameter "lora_r": Input should be a valid integer'),
        ({"threads": 0}, 'parameter "threads"'),
        ({"method": "qlora"}, "parameter \"method\": Input should be 'lora' or 'full'"),
    ],
)
def test_bad_params_are_named(sft, params, message) -> None:
    with pytest.raises(ValidationError, match=message):
        SftTrainer().run(sft(params))


def test_bad_data_is_named(tiny_model, small_instructions, make_context, sft, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a"}\n', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"bad\.jsonl:2: missing field 'response'"):
        SftTrainer().run(make_context("sft", tiny_model, bad, "instruction"))
    with pytest.raises(ValidationError, match="must be one of instruction, dialogue"):
        SftTrainer().run(make_context("sft", tiny_model, small_instructions, "text"))
    with pytest.raises(ValidationError, match="target_modules"):
        SftTrainer().run(sft({"target_modules": ["no_such_proj"], "max_steps": 1}))


def test_pickle_weights_are_refused(tiny_model, sft, tmp_path) -> None:
    import shutil

    from safetensors.torch import load_file as load_st

    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_model, pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(load_st(tiny_model / "model.safetensors"), pickled / "pytorch_model.bin")
    with pytest.raises(UnsafeContentError, match="pickle"):
        SftTrainer().run(sft({"max_steps": 1}, base=pickled))
    # The same pickle renamed to look like safetensors is refused too.
    disguised = tmp_path / "disguised"
    shutil.copytree(tiny_model, disguised)
    shutil.copy(pickled / "pytorch_model.bin", disguised / "model.safetensors")
    with pytest.raises(UnsafeContentError, match="not a valid safetensors"):
        SftTrainer().run(sft({"max_steps": 1}, base=disguised))
    # Opting in loads the pickle through transformers.
    result = SftTrainer().run(sft({"max_steps": 1, "allow_pickle": True}, base=pickled))
    assert result.outputs[0].kind == "adapter"
