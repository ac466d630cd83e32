"""A tiny random-weight Llama-style model, built locally, for tests, benchmarks and demos.

Nothing is downloaded: the tokenizer is trained with ``tokenizers`` on a few shipped
sentences (English and Chinese) and the weights come from a seeded random init.
"""

from __future__ import annotations

from pathlib import Path

_CORPUS = (
    "Question: What is the capital of France?\nAnswer: Paris",
    "Question: What is 3 + 4?\nAnswer: 7",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9 10 + - = ?",
    "问题：法国的首都是哪里？\n答案：巴黎",
    "问题：3 加 4 等于多少？\n答案：7",
    "中国的首都是北京。日本的首都是东京。英国的首都是伦敦。",
    "Rate the answer from 1 to 5. Score: yes no",
    "<|user|>Hello<|end|><|assistant|>Hi<|end|>",
)

# The same role markers as lmops-hf's chat format, so lmops-hf can load the model too.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}<|system|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'user' %}<|user|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{{ message['content'] }}<|end|>"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
"""Chat template written into the tiny model's tokenizer."""


def build_tiny_llama(
    folder: Path, *, seed: int = 0, hidden_size: int = 64, num_layers: int = 2
) -> Path:
    """Write a random-weight Llama-style causal LM plus a trained tokenizer into ``folder``.

    The folder is in Hugging Face layout with safetensors weights, loadable by
    ``AutoModelForCausalLM.from_pretrained`` offline. Returns ``folder``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    # Byte-level BPE covers any character (Chinese included) without unknown tokens.
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(list(_CORPUS), trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="</s>",
    )
    tok.chat_template = CHAT_TEMPLATE
    tok.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
