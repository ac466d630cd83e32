"""Where the prompts to explain come from: the ``prompts`` param or a dataset version.

A dataset is read through the core (``context.records``), which checks each
record against its shape; the prompt of a record depends on the shape:
``instruction`` and ``preference`` use ``prompt``, ``text`` uses ``text``,
``dialogue`` the last ``user`` message (a dialogue may end with the user's turn
answered, so its last user message is the prompt).
"""

from __future__ import annotations

from typing import Any

from lmops_core.contracts import StageContext
from lmops_core.errors import ValidationError

_FIELD_BY_SHAPE = {"instruction": "prompt", "preference": "prompt", "text": "text"}


def _record_prompt(record: dict[str, Any], shape: str) -> str:
    if shape == "dialogue":
        return str([m["content"] for m in record["messages"] if m["role"] == "user"][-1])
    return str(record[_FIELD_BY_SHAPE[shape]])


def dataset_prompts(context: StageContext, *, limit: int) -> list[str]:
    """The first ``limit`` prompts of the ``"dataset"`` input; a bad record fails naming
    ``ref:line`` and the field (the core's shape check)."""
    dataset = context.input("dataset")
    prompts: list[str] = []
    for number, record in enumerate(context.records("dataset"), start=1):
        if len(prompts) >= limit:
            break
        if dataset.kind == "dialogue" and not any(m["role"] == "user" for m in record["messages"]):
            raise ValidationError(
                f'{dataset.ref}: record {number}: field "messages" has no user message',
                field="messages",
            )
        prompts.append(_record_prompt(record, dataset.kind))
    if not prompts:
        raise ValidationError(
            f"dataset {dataset.ref}: the dataset holds no records", field="dataset"
        )
    return prompts


def collect_prompts(context: StageContext, given: list[str] | None, *, limit: int) -> list[str]:
    """Prompts from the (validated) ``prompts`` parameter or the ``"dataset"`` input, not both."""
    has_dataset = "dataset" in context.inputs
    if given is not None and has_dataset:
        raise ValidationError(
            'give prompts either in parameter "prompts" or as an input "dataset", not both',
            param="prompts",
        )
    if given is not None:
        if len(given) > limit:
            raise ValidationError(
                f'parameter "prompts" holds {len(given)} prompts, more than max_prompts={limit}',
                param="prompts",
            )
        return list(given)
    if not has_dataset:
        raise ValidationError(
            'the shap explainer needs prompts: pass parameter "prompts" or an input "dataset"',
            param="prompts",
        )
    return dataset_prompts(context, limit=limit)
