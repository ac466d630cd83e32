"""Factories for annotation tests: a dataset to annotate and Label Studio's answers to it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmops_core.workspace import Workspace
from tests.conftest import write_jsonl

#: Twelve support tickets, a third about cards, with a first guess at the label.
TICKETS = [
    {
        "prompt": f"ticket {i}",
        "response": f"answer {i}",
        "topic": "cards" if i % 3 == 0 else "billing",
        "label": "cards" if i % 3 == 0 else "billing",
    }
    for i in range(12)
]


def tickets(ws: Workspace, tmp: Path, rows: list[dict[str, Any]] = TICKETS) -> str:
    """Register the tickets as an instruction dataset; its reference."""
    return ws.register_dataset(
        "tickets", write_jsonl(tmp / "tickets.jsonl", rows), shape="instruction"
    ).ref


def completed(
    tasks_file: Path, out: Path, answer: Callable[[int, dict[str, Any]], list[tuple[Any, Any]]]
) -> Path:
    """Label Studio's export of ``tasks_file``: each task gets ``answer(position, data)``,
    pairs ``(completed_by, result list)``."""
    tasks = json.loads(tasks_file.read_text())
    for n, task in enumerate(tasks):
        task["annotations"] = [
            {"id": 100 * n + k, "completed_by": who, "result": result, "was_cancelled": False}
            for k, (who, result) in enumerate(answer(n, task["data"]))
        ]
        task["id"] = n + 1
    out.write_text(json.dumps(tasks))
    return out


def choice(label: str) -> list[dict[str, Any]]:
    """A Label Studio choices result."""
    return [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
    ]
