"""``heldout-loss``: how well a model predicts the responses of a held-out instruction set.

The measure is the training loss's own: mean negative log-likelihood per
response token (the assistant's turn and its end token, after the chat
template's prompt). Any runtime that can score (``needs=("score",)``) serves,
so the evaluator works on every model kind a plugin opens with scoring.
"""

from __future__ import annotations

import math
from typing import Any

from lmops_core.contracts import EvidenceRecord, StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_core.kit import BaseOperation
from lmops_core.runtimes import torch_threads
from lmops_optuna.params import HeldoutParams


def messages(record: dict[str, Any]) -> tuple[list[dict[str, str]], str]:
    """The chat messages before the response of an instruction record (as ``sft`` builds
    them), and the response."""
    prompt = str(record["prompt"])
    head = [{"role": "system", "content": str(record["system"])}] if record.get("system") else []
    return [*head, {"role": "user", "content": prompt}], str(record["response"])


def template_ids(tokenizer: Any, chat: list[dict[str, str]], *, generation: bool) -> list[int]:
    """Token ids of ``chat`` through the tokenizer's chat template."""
    enc = tokenizer.apply_chat_template(
        chat, add_generation_prompt=generation, tokenize=True, return_dict=True
    )
    return [int(i) for i in enc["input_ids"]]


class HeldoutLoss(BaseOperation[HeldoutParams]):
    """Mean loss per response token of a model on a held-out instruction dataset

    Inputs: ``"model"`` (any kind whose runtime scores; an adapter also takes
    ``"base"``) and ``"dataset"`` (instruction shape). Records the
    ``heldout_loss`` evidence on the model: the loss, its perplexity, the
    records and tokens scored. Lower is better.
    """

    name = "heldout-loss"
    input_roles = {"model": "model", "base": "model", "dataset": "dataset"}
    evidence_kinds = ("heldout_loss",)

    def execute(self, context: StageContext, params: HeldoutParams) -> StageResult:
        """Score every response given its prompt; one evidence record on the model."""
        dataset = context.input("dataset")
        if dataset.kind != "instruction":
            raise ValidationError(
                f'heldout-loss: role "dataset" must be an instruction dataset, got {dataset.kind!r}',
                field="dataset",
            )
        records = list(context.records("dataset"))[: params.limit]
        if not records:
            raise ValidationError(f"heldout-loss: {dataset.ref} has no record", field="dataset")
        with torch_threads(params.threads):
            model: Any = context.load_model("model", needs=("generate", "score"))
            total, tokens = 0.0, 0
            context.progress.start("held-out loss", total=len(records))
            for record in records:
                chat, response = messages(record)
                prompt = template_ids(model.tokenizer, chat, generation=True)
                full = template_ids(
                    model.tokenizer,
                    [*chat, {"role": "assistant", "content": response}],
                    generation=False,
                )[: params.max_length]
                answer = full[len(prompt) :]
                if full[: len(prompt)] != prompt or not answer:
                    continue  # truncated away, or a template that rewrites the prompt
                total -= model.continuation_log_probs([prompt], answer)[0]
                tokens += len(answer)
                context.progress.advance()
            context.progress.finish()
        if not tokens:
            raise ValidationError(
                f"heldout-loss: no response of {dataset.ref} fits max_length={params.max_length}",
                field="max_length",
            )
        loss = total / tokens
        metrics = {
            "heldout_loss": loss,
            "perplexity": math.exp(min(loss, 50.0)),
            "records": len(records),
            "tokens": tokens,
        }
        return StageResult(
            evidence=[
                EvidenceRecord(
                    kind="heldout_loss",
                    subject="model",
                    metrics=metrics,
                    details={"dataset": dataset.ref, "dataset_digest": dataset.digest},
                )
            ],
            metrics={k: float(v) for k, v in metrics.items()},
            params=params.model_dump(),
        )
