"""What a pipeline step hands back, and how a front end hears of each step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StepResult:
    """What a step produced: its main value and named outputs."""

    value: Any
    outputs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    #: Set by a step that must wait for a person's decision on this approval request.
    waiting_for: str | None = None


#: Called with ``("start", title, None)`` before a step and ``("done", id, result)`` after.
Reporter = Callable[[str, str, StepResult | None], None]
