"""Supervised fine-tuning (LoRA by default, or full) on instruction and dialogue datasets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lmops_core.contracts import StageContext, StageResult
from lmops_core.errors import ValidationError
from lmops_hf import chat
from lmops_hf import trainer_common as tc
from lmops_hf.loading import load_tokenizer
from lmops_hf.params import SftParams
from lmops_hf.records import read_records

SFT_KINDS = ("instruction", "dialogue")
IGNORE = -100


def encode_example(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], max_length: int
) -> dict[str, list[int]] | None:
    """Token ids and labels for one conversation; loss only on assistant tokens.

    The chat template's ``{% generation %}`` block gives the assistant-token
    mask; other tokens get label -100. Returns ``None`` when truncation leaves
    no assistant token to learn from.
    """
    enc = tokenizer.apply_chat_template(
        chat.copy_messages(messages),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    ids = list(enc["input_ids"])[:max_length]
    mask = list(enc["assistant_masks"])[:max_length]
    if not any(mask):
        return None
    labels = [t if m else IGNORE for t, m in zip(ids, mask, strict=True)]
    return {"input_ids": ids, "labels": labels}


class SftCollator:
    """Pads a batch on the right and counts the real tokens it has produced."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens = 0

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        """A padded batch of input ids, attention mask and labels as tensors."""
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        ids, att, labels = [], [], []
        for b in batch:
            pad = width - len(b["input_ids"])
            ids.append(b["input_ids"] + [self.pad_id] * pad)
            att.append([1] * len(b["input_ids"]) + [0] * pad)
            labels.append(b["labels"] + [IGNORE] * pad)
            self.tokens += len(b["input_ids"])
        return {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(att),
            "labels": torch.tensor(labels),
        }


def encode_dataset(
    tokenizer: Any, records: list[dict[str, Any]], kind: str, max_length: int
) -> tuple[list[dict[str, list[int]]], int]:
    """Encoded examples and how many records were dropped by truncation."""
    examples, dropped = [], 0
    for record in records:
        messages = record["messages"] if kind == "dialogue" else chat.instruction_messages(record)
        example = encode_example(tokenizer, messages, max_length)
        if example is None:
            dropped += 1
        else:
            examples.append(example)
    return examples, dropped


class SftTrainer(tc.TrainingOperation[SftParams]):
    """Supervised fine-tuning on instruction/dialogue data with transformers + PEFT: LoRA
    adapter by default (optionally merged), or full fine-tuning

    The "sft" training operation (transformers Trainer + PEFT LoRA, or full fine-tuning).

    Inputs: role ``"base"`` (model folder) and role ``"dataset"`` (instruction or
    dialogue JSONL). Outputs: an ``"adapter"`` (and a ``"merged"`` model with
    ``merge=True``), or a ``"full"`` model with ``method="full"``.
    """

    name = "sft"

    def execute(self, context: StageContext, options: SftParams) -> StageResult:
        """Train, checkpointing as it goes; return the outputs, loss curve and evidence."""
        from transformers import Trainer, TrainingArguments

        params = options.model_dump()
        seed, base, dataset = tc.training_inputs(
            context, self.name, SFT_KINDS, f"one of {', '.join(SFT_KINDS)}"
        )
        base_dir, fingerprint = tc.prepare_run(context, self.name, params, seed)

        records = read_records(dataset.path, dataset.kind)
        tokenizer = load_tokenizer(base_dir, role="base")
        examples, dropped = encode_dataset(tokenizer, records, dataset.kind, params["max_length"])
        if not examples:
            raise ValidationError(
                f"sft: no example in {dataset.path} keeps an assistant token within "
                f"max_length={params['max_length']}",
                field="max_length",
            )

        model = tc.prepare_model(base_dir, params, seed)
        trainable, total = tc.count_parameters(model)
        collator = SftCollator(tokenizer.pad_token_id)
        callbacks = tc.make_callbacks(
            context.progress, fingerprint, params["max_steps_this_session"]
        )
        args = tc.training_arguments(
            TrainingArguments, context.workdir, params, seed, remove_unused_columns=False
        )
        trainer = Trainer(
            model, args, data_collator=collator, train_dataset=examples, callbacks=callbacks
        )
        duration = tc.train(trainer, callbacks, params, context.workdir)

        metrics: dict[str, Any] = {
            **tc.training_metrics(trainer, duration, collator.tokens, trainable, total),
            "examples": len(examples),
            "examples_dropped": dropped,
        }
        outputs = tc.save_outputs(model, tokenizer, context.workdir, params, base, dataset, seed)
        info = {
            "seed": seed,
            "libraries": tc.library_versions(),
            "resumed_from": params["resume_from"],
        }
        return tc.training_result(
            self.name, outputs, metrics, params, info, series={"loss": tc.loss_series(trainer)}
        )
