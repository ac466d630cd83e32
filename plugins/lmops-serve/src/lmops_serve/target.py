"""The serving targets: ``local`` (``lmops serve-model`` on a free port of 127.0.0.1, its own
process) and ``in-process`` (the same app under uvicorn in a thread of the caller's process).

Pipelines (a ``serve`` step) reach them through the core's serving-target hook;
the core never runs a command of this plugin itself. Both verify the bundle,
apply the guard and write the inference log the same way, and are reached
over loopback HTTP; ``in-process`` spares a second interpreter importing torch,
transformers and Presidio again, which the caller has usually imported already.
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
from typing import TYPE_CHECKING, Any

from lmops_core.errors import IntegrityError, StageError

if TYPE_CHECKING:
    from lmops_core.deploy.liveness import ReachableStore
    from lmops_serve.server import BackgroundServer


class HttpService:
    """A service reached over HTTP at ``url``: health and streamed generation, as a client."""

    url: str

    def _check_alive(self) -> None:
        """Raise :class:`StageError` if the service has died."""

    def health(self) -> Mapping[str, Any] | None:
        """``/health``'s answer once up, ``None`` while starting; StageError if it died."""
        self._check_alive()
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


class LocalService(HttpService):
    """A ``lmops serve-model`` process serving one bundle; a :class:`~lmops_core.runtimes.ServedModel`."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process = process
        self.url = url

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            err = self.process.stderr.read().decode() if self.process.stderr else ""
            raise StageError(f"lmops serve-model exited: {err[-2000:]}")

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

    def start(
        self,
        bundle: Path,
        *,
        home: Path,
        guard_mode: str,
        log_path: Path,
        prompt: str | None = None,
    ) -> LocalService:
        """Start ``lmops serve-model BUNDLE`` (``--prompt PROMPT`` when given) with the store
        under ``home``; returns at once. A prompt the store does not find approved stops the
        process, and :meth:`LocalService.health` raises with the refusal."""
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
            *(["--prompt", prompt] if prompt is not None else []),
        ]
        env = {**os.environ, "LMOPS_HOME": str(home)}
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        return LocalService(process, f"http://127.0.0.1:{port}")


class ThreadService(HttpService):
    """The app under uvicorn in a thread of this process; a :class:`~lmops_core.runtimes.ServedModel`."""

    def __init__(self, server: BackgroundServer, store: ReachableStore | None) -> None:
        self.server = server
        self.store = store
        self.url = server.url
        self._stopped = False

    def _check_alive(self) -> None:
        if not self.server.alive:
            raise StageError(f"the in-process server on {self.url} has stopped")

    def stop(self) -> None:
        """Stop the server thread and close the store it asked; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.server.stop()
        finally:
            if self.store is not None:
                self.store.close()


class InProcessServingTarget:
    """Serves a bundle with uvicorn in a thread of this process on 127.0.0.1; a :class:`~lmops_core.runtimes.ServingTarget`.

    The bundle is verified (signature, digests, standing in the store under
    ``home``) before ``start`` returns; a bundle that does not stand raises
    then. The served app is the one ``lmops serve-model`` runs.
    """

    name = "in-process"
    description = (
        "the lmops serve-model app under uvicorn in a thread of this process, on 127.0.0.1 "
        "(no second interpreter to start)"
    )

    def start(
        self,
        bundle: Path,
        *,
        home: Path,
        guard_mode: str,
        log_path: Path,
        prompt: str | None = None,
    ) -> ThreadService:
        """Verify ``bundle`` against the keys and store under ``home`` and start serving it
        (through ``prompt``, which that store must find approved: else the
        :class:`~lmops_core.errors.PolicyViolationError` of ``serve-model --prompt``)."""
        from lmops_core.deploy import KeyStore, open_reachable_store
        from lmops_core.settings import Settings
        from lmops_serve.app import create_app
        from lmops_serve.server import BackgroundServer

        # What `lmops serve-model` sees when started with LMOPS_HOME=home (see LocalServingTarget);
        # no key there must not fall back on the keys of this process's own home.
        keys = KeyStore.for_home(home).public_keys()
        if not keys:
            raise IntegrityError(
                f"no trusted public key under {home}: the bundle {bundle} cannot be verified"
            )
        store = open_reachable_store(Settings(home=home))
        try:
            app = create_app(
                bundle,
                guard_mode=guard_mode,
                log_path=log_path,
                public_keys=keys,
                store=store,
                prompt=prompt,
            )
            server = BackgroundServer(app)
            server.start()
        except BaseException:
            if store is not None:
                store.close()
            raise
        return ThreadService(server, store)
