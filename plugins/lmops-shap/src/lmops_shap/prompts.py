"""Where the prompts to explain come from: the ``prompts`` param or a dataset version.

A dataset is one canonical JSONL file; the prompt of each record depends on
its shape (``InputAsset.kind``): ``instruction`` and ``preference`` use
``prompt``, ``text`` uses ``text``, ``dialogue`` the last ``user`` message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmops_core.contracts import StageContext
from lmops_core.errors import ValidationError

_FIELD_BY_KIND = {"instruction": "prompt", "preference": "prompt", "text": "text"}


def _record_prompt(record: Any, kind: str, where: str) -> str:
    if not isinstance(record, dict):
        raise ValidationError(f"{where}: expected a JSON object", location=where)
    if kind == "dialogue":
        messages = record.get("messages")
        if not isinstance(messages, list):
            raise ValidationError(f'{where}: field "messages" must be a list', location=where)
        users = [
            m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"
        ]
        if not users:
            raise ValidationError(f'{where}: field "messages" has no user message',
                                  location=where)
        value = users[-1]
        name = "messages[].content"
    else:
        name = _FIELD_BY_KIND[kind]
        value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f'{where}: field "{name}" must be a non-empty string',
                              location=where)
    return value


def dataset_prompts(path: Path, kind: str, *, limit: int, display_name: str) -> list[str]:
    """The first ``limit`` prompts of a dataset file; errors name ``file:line`` and the field."""
    if kind not in _FIELD_BY_KIND and kind != "dialogue":
        raise ValidationError(
            f'input "dataset" has kind "{kind}"; prompts can be read from instruction, '
            "preference, text or dialogue datasets",
            field="dataset",
        )
    prompts: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if len(prompts) >= limit:
                break
            if not line.strip():
                continue
            where = f"{display_name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"{where}: invalid JSON ({exc.msg})", location=where) from None
            prompts.append(_record_prompt(record, kind, where))
    if not prompts:
        raise ValidationError(f"{display_name}: the dataset holds no records", field="dataset")
    return prompts


def collect_prompts(context: StageContext, given: list[str] | None, *, limit: int
                    ) -> list[str]:
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
    dataset = context.input("dataset")
    if dataset.asset_type != "dataset" or dataset.path is None:
        raise ValidationError('input "dataset" must be a dataset version with a local file',
                              field="dataset")
    return dataset_prompts(dataset.path, dataset.kind, limit=limit,
                           display_name=f"dataset {dataset.ref}")
