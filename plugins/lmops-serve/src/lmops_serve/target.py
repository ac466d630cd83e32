"""The ``local`` serving target: ``lmops serve-model`` on a free port of 127.0.0.1.

Pipelines (a ``serve`` step) reach it through the core's serving-target hook;
the core never runs a command of this plugin itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lmops_core.errors import StageError


class LocalService:
    """A ``lmops serve-model`` process serving one bundle; a :class:`~lmops_core.runtimes.ServedModel`."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    def health(self) -> Mapping[str, Any] | None:
        """``/health``'s answer once up, ``None`` while starting; StageError if it exited."""
        if self.process.poll() is not None:
            err = self.process.stderr.read().decode() if self.process.stderr else ""
            raise StageError(f"lmops serve-model exited: {err[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                answer: dict[str, Any] = json.loads(response.read().decode("utf-8"))
                return answer
        except OSError:
            return None

    def generate(self, prompt: str, *, max_new_tokens: int) -> str:
        """The reply streamed by ``/v1/generate/stream``, pieces joined (guard applied)."""
        body = json.dumps({"prompt": prompt, "max_new_tokens": max_new_tokens}).encode()
        request = urllib.request.Request(
            f"{self.url}/v1/generate/stream",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        pieces: list[str] = []
        event = ""
        with urllib.request.urlopen(request, timeout=120) as response:
            for raw in response:
                line = raw.decode("utf-8").rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "token":
                    data = json.loads(line[5:].strip())
                    pieces.append(data.get("text", "") if isinstance(data, dict) else str(data))
                elif line.startswith("data:") and event == "error":
                    raise StageError(f"the service refused: {line[5:].strip()}")
        return "".join(pieces)

    def stop(self) -> None:
        """Terminate the process (killed if it has not exited after 20 s)."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class LocalServingTarget:
    """Serves a bundle with ``lmops serve-model`` on 127.0.0.1; a :class:`~lmops_core.runtimes.ServingTarget`."""

    name = "local"
    description = "lmops serve-model on a free port of 127.0.0.1 (guarded HTTP service)"

    def start(self, bundle: Path, *, home: Path, guard_mode: str, log_path: Path) -> LocalService:
        """Start ``lmops serve-model BUNDLE`` with the store under ``home``; returns at once."""
        lmops = Path(sys.executable).with_name("lmops")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [
            str(lmops),
            "serve-model",
            str(bundle),
            "--port",
            str(port),
            "--guard-mode",
            guard_mode,
            "--log-path",
            str(log_path),
        ]
        env = {**os.environ, "LMOPS_HOME": str(home)}
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        return LocalService(process, f"http://127.0.0.1:{port}")
