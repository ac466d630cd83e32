"""The chat format shared by base models built here, training and generation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

USER = "<|user|>"
ASSISTANT = "<|assistant|>"
SYSTEM = "<|system|>"
END = "<|end|>"
PAD = "<|pad|>"
BOS = "<|bos|>"
SPECIAL_TOKENS = [PAD, BOS, END, USER, ASSISTANT, SYSTEM]

# The {% generation %} block marks assistant text so that transformers can return the
# assistant-token mask: SFT computes its loss on exactly those tokens.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}<|system|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'user' %}<|user|>{{ message['content'] }}<|end|>"
    "{% elif message['role'] == 'assistant' %}<|assistant|>"
    "{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def instruction_messages(record: Mapping[str, Any]) -> list[dict[str, str]]:
    """Messages of an instruction record ``{prompt, response, system?}``."""
    messages: list[dict[str, str]] = []
    if record.get("system"):
        messages.append({"role": "system", "content": str(record["system"])})
    messages.append({"role": "user", "content": str(record["prompt"])})
    messages.append({"role": "assistant", "content": str(record["response"])})
    return messages


def prompt_messages(prompt: str, system: str | None = None) -> list[dict[str, str]]:
    """Messages for a single user prompt awaiting an assistant reply."""
    messages: list[dict[str, str]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def copy_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Plain ``{role, content}`` dicts (drops any extra keys a dataset carries)."""
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
