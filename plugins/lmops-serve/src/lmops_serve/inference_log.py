"""The JSONL inference log the drift monitor reads: flat records, personal data redacted."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class InferenceRecord:
    """One request/response; ``prompt`` and ``response`` are redacted before this exists."""

    ts: str
    request_id: str
    prompt: str
    response: str
    latency_ms: float
    ttft_ms: float
    tokens_in: int
    tokens_out: int
    pii_in: int
    pii_out: int
    pii_in_types: str
    pii_out_types: str
    refused: bool
    refused_category: str
    blocked: bool
    stream: bool
    model_ref: str
    model_digest: str
    bundle_digest: str
    #: The prompt version requests were sent through ("" when the model is served bare).
    prompt_ref: str = ""
    prompt_digest: str = ""
    #: The guard configuration that was live (lmops_serve.guard_config): name and digest.
    guard_name: str = ""
    guard_digest: str = ""
    #: The injection detectors' score, matched rules ("rules:en.override,...") and whether
    #: the request reached the threshold (blocked ones also have refused_category
    #: "prompt_injection").
    injection_score: float = 0.0
    injection_rules: str = ""
    injection_flagged: bool = False
    #: The guard version the bundle pinned (``guard:NAME@N``), "" when it pinned none.
    guard_ref: str = ""


class InferenceLog:
    """Appends records as JSON lines; one lock so concurrent requests never interleave lines."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, record: InferenceRecord) -> None:
        """Write one record (a single ``write`` of one line)."""
        line = json.dumps(asdict(record), ensure_ascii=False) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
