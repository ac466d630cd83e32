"""Small Llama-style base models built locally: a trained tokenizer plus random weights.

They let every stage of lmops run offline, in tests and demos, on a CPU. The
tokenizer is a byte-level BPE trained with ``tokenizers`` on a text shipped in
the package; the weights are random, drawn from ``seed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from lmops_core.errors import ValidationError
from lmops_hf import chat

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_CORPUS = DATA_DIR / "corpus.txt"

ModelSize = Literal["tiny", "bench"]


@dataclass(frozen=True)
class SizeSpec:
    """Dimensions of one model size, named as ``LlamaConfig`` names them."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    max_position_embeddings: int


SIZES: dict[str, SizeSpec] = {
    # Seconds on a CPU: for tests and the instruction-following demo.
    "tiny": SizeSpec(1024, 64, 176, 2, 4, 256),
    # Tens of millions of parameters: for benchmarks where per-layer costs dominate.
    "bench": SizeSpec(4096, 512, 1408, 8, 8, 512),
}


def _train_tokenizer(corpus: Path, vocab_size: int):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=chat.SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train([str(corpus)], trainer=trainer)
    return tok


def build_tokenizer(corpus: Path, vocab_size: int):  # type: ignore[no-untyped-def]
    """A ``PreTrainedTokenizerFast`` with the lmops chat template, trained on ``corpus``."""
    from transformers import PreTrainedTokenizerFast

    if not corpus.is_file():
        raise ValidationError(f"corpus file not found: {corpus}", file=str(corpus))
    if corpus.stat().st_size == 0:
        raise ValidationError(f"corpus file is empty: {corpus}", file=str(corpus))
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=_train_tokenizer(corpus, vocab_size),
        bos_token=chat.BOS,
        eos_token=chat.END,
        pad_token=chat.PAD,
        additional_special_tokens=[chat.USER, chat.ASSISTANT, chat.SYSTEM],
        padding_side="right",
        model_max_length=SIZES["bench"].max_position_embeddings,
    )
    tokenizer.chat_template = chat.CHAT_TEMPLATE
    return tokenizer


def create_base_model(
    out_dir: Path,
    *,
    size: ModelSize = "tiny",
    seed: int = 0,
    corpus: Path | None = None,
) -> Path:
    """Build a random-weight Llama-style base model and its tokenizer in ``out_dir``.

    Writes ``config.json``, ``model.safetensors``, ``generation_config.json`` and
    the tokenizer files; the folder reloads with ``from_pretrained(out_dir)``
    offline. ``size`` is ``"tiny"`` (~hidden 64, 2 layers) or ``"bench"`` (tens of
    millions of parameters). The same ``seed`` and corpus give identical files.
    Returns ``out_dir``.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if size not in SIZES:
        raise ValidationError(
            f"unknown model size {size!r}: expected one of {', '.join(SIZES)}", field="size"
        )
    spec = SIZES[size]
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ValidationError(f"output folder is not empty: {out_dir}", file=str(out_dir))
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = build_tokenizer(corpus or DEFAULT_CORPUS, spec.vocab_size)
    special_ids = {
        key: getattr(tokenizer, key) for key in ("bos_token_id", "eos_token_id", "pad_token_id")
    }
    config = LlamaConfig(
        **asdict(replace(spec, vocab_size=len(tokenizer))),
        num_key_value_heads=spec.num_attention_heads,
        tie_word_embeddings=False,
        **special_ids,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        do_sample=False, max_new_tokens=32, **special_ids
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def tiny_model(folder: Path, *, seed: int = 0, base: Path | None = None) -> Path:
    """The tiny model of a torch kind (base, merged, full): :func:`create_base_model` at ``tiny``.

    Registered as the runtimes' ``tiny`` builder, so ``lmops_core.testing`` builds its
    tiny models through the core; ``base`` is not needed for these kinds.
    """
    return create_base_model(folder, size="tiny", seed=seed)


def tiny_adapter(folder: Path, *, seed: int = 0, base: Path | None = None) -> Path:
    """A LoRA adapter over the tiny ``base`` whose weights are not zero (so merging matters)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    if base is None:
        raise ValidationError("a tiny adapter is built over a base model folder", field="base")
    torch.manual_seed(seed + 1)
    model = AutoModelForCausalLM.from_pretrained(str(base), local_files_only=True)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, config).save_pretrained(str(folder))  # type: ignore[no-untyped-call]
    return folder
