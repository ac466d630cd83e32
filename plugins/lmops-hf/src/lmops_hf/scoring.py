"""Log-probabilities of replies under a model, for preference margins and checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lmops_hf import chat


def reply_logprob(
    model: Any,
    tokenizer: Any,
    prompt: str,
    reply: str,
    system: str | None = None,
    max_length: int = 256,
) -> float:
    """Sum of log-probabilities of ``reply``'s tokens (and its end token) after ``prompt``."""
    import torch

    from lmops_hf.sft import encode_example

    messages = [*chat.prompt_messages(prompt, system), {"role": "assistant", "content": reply}]
    example = encode_example(tokenizer, messages, max_length)
    if example is None:
        return float("-inf")
    ids = torch.tensor([example["input_ids"]])
    labels = torch.tensor(example["labels"][1:])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1]
    logp = torch.log_softmax(logits.float(), dim=-1)
    keep = labels != -100
    return float(logp[keep].gather(1, labels[keep].unsqueeze(1)).sum())


def preference_margins(
    model: Any, tokenizer: Any, records: Sequence[Mapping[str, Any]], max_length: int = 256
) -> dict[str, float]:
    """Mean log-prob margin (chosen - rejected) and the share of records where chosen wins."""
    was_training = model.training
    model.eval()
    margins = []
    for r in records:
        chosen = reply_logprob(
            model, tokenizer, r["prompt"], r["chosen"], r.get("system"), max_length
        )
        rejected = reply_logprob(
            model, tokenizer, r["prompt"], r["rejected"], r.get("system"), max_length
        )
        margins.append(chosen - rejected)
    if was_training:
        model.train()
    return {
        "margin": sum(margins) / len(margins),
        "accuracy": sum(m > 0 for m in margins) / len(margins),
    }
