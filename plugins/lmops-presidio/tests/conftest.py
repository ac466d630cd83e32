"""Shared fixtures of lmops-presidio's tests: no network, real stage contexts."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from lmops_core.contracts import InputAsset, NullProgress, Stage, StageContext
from lmops_core.offline import set_offline_defaults

# The core sets these when it loads plugins; tests that import plugin modules directly
# need them before any ML library is imported.
set_offline_defaults()


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse and record every outbound connection or DNS lookup; fail the test if any.

    Recording matters: tldextract swallows a failed download and falls back
    to its snapshot, so a refusal alone would go unnoticed.
    """
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def refuse_connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:  # multiprocessing's local pipes are fine
            real_connect(self, address)
            return
        attempts.append(address)
        raise OSError(f"network access attempted in a test: {address!r}")

    def refuse_lookup(host: object, *args: object, **kwargs: object) -> list[Any]:
        attempts.append(host)
        raise OSError(f"DNS lookup attempted in a test: {host!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    yield attempts
    assert attempts == [], f"network was attempted: {attempts}"


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[Sequence[dict[str, Any]], str], Path]:
    """Write records as a canonical JSONL file under tmp_path."""

    def write(records: Sequence[dict[str, Any]], name: str = "in.jsonl") -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return path

    return write


@pytest.fixture
def make_context(tmp_path: Path) -> Callable[..., StageContext]:
    """A real StageContext for the pii-redact step over a dataset file."""

    def make(path: Path, kind: str, params: dict[str, Any] | None = None) -> StageContext:
        return StageContext(
            stage=Stage.DATA_PREPARATION,
            operation="pii-redact",
            inputs={
                "dataset": InputAsset(
                    role="dataset",
                    ref="datasets/test@1",
                    asset_type="dataset",
                    kind=kind,
                    digest="sha256:test",
                    path=path,
                )
            },
            params=params or {},
            workdir=tmp_path / "work",
            actor="tester",
            run_id="run-1",
            seed=0,
            progress=NullProgress(),
        )

    return make


@pytest.fixture
def read_jsonl() -> Callable[[Path], list[dict[str, Any]]]:
    """Read the records of a JSONL file."""

    def read(path: Path) -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    return read
