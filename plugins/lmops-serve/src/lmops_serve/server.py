"""Running the app under a real uvicorn server in a background thread (tests, benchmarks)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from lmops_core.errors import ConfigurationError


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on a free loopback port."""

    def __init__(
        self, app: FastAPI, *, host: str = "127.0.0.1", startup_timeout: float = 30.0
    ) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )
        self._timeout = startup_timeout

    @property
    def alive(self) -> bool:
        """Whether the server thread is still running."""
        return self._thread.is_alive()

    def start(self) -> str:
        """Start serving; returns the URL once uvicorn listens (ConfigurationError if it cannot)."""
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        """Ask uvicorn to exit, wait for its thread, release the port."""
        self._server.should_exit = True
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=self._timeout)
        self._sock.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
