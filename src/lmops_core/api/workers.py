"""Several server processes on one port, each with a listening socket of its own.

uvicorn's own ``workers`` mode binds one socket and hands it to every process; each
then accepts whatever connection it wakes up for first. Clients that keep their
connections open (browsers, SDK sessions, a proxy's pool) stay with whichever process
accepted them, and that split is left to chance: fifty connections opened at once
to two uvicorn workers were split 5/45, 6/44, 13/37 and 24/26 in four tries on this
project's 2-core test machine, so one process served most of the load while the other
idled.

On Linux, :func:`serve_processes` instead binds one socket per process, all on the same
address with ``SO_REUSEPORT``. The kernel then assigns each new connection to one of the
sockets by a hash of its addresses and ports, so the processes get about the same share
of connections (the same fifty: 18/32 to 25/25 in six tries). Elsewhere (no
``SO_REUSEPORT``, or one that does not spread connections, as on macOS) it runs uvicorn's
own workers mode.

The sockets are bound by the supervising process before any worker starts, so an address
already in use is refused at once, with the address named. A worker that dies is started
again on the same socket (connections that arrived meanwhile wait in its backlog); one
that dies within :data:`STARTUP_GRACE_S` of starting stops the whole server instead, so a
broken setting fails loudly rather than in a loop.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

from lmops_core.errors import ConfigurationError

_log = logging.getLogger("lmops.api.workers")

#: A worker that exits within this many seconds of starting stops the server.
STARTUP_GRACE_S = 10.0
#: How long stopping waits for workers to finish their requests before killing them.
STOP_TIMEOUT_S = 30.0
#: Pending connections each socket queues while its worker is busy (uvicorn's default).
BACKLOG = 2048


def spreads_connections() -> bool:
    """Whether this platform spreads a port's connections over ``SO_REUSEPORT`` sockets
    (Linux does; the BSDs and macOS hand them all to one socket)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening TCP sockets on ``host:port``, sharing it with ``SO_REUSEPORT``.

    Raises :class:`~lmops_core.errors.ConfigurationError` naming the address when it
    cannot be bound (in use by another program, or not an address of this machine).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sockets


def _run_worker(app: str, options: dict[str, Any], sock: socket.socket) -> None:
    """One worker process: uvicorn serving ``app`` (an import string of an app factory)
    on the socket the supervisor bound for it."""
    import uvicorn

    config = uvicorn.Config(app, factory=True, **options)
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class _Worker:
    sock: socket.socket
    process: SpawnProcess | None = None
    started: float = 0.0


class ProcessSupervisor:
    """Starts one worker process per socket, starts a dead one again, stops them all."""

    def __init__(self, app: str, options: dict[str, Any], sockets: list[socket.socket]):
        self.app = app
        self.options = options
        self.workers = [_Worker(sock) for sock in sockets]
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False
        self.failure: str | None = None

    def _start(self, worker: _Worker) -> None:
        process = self._context.Process(
            target=_run_worker, args=(self.app, self.options, worker.sock), daemon=False
        )
        process.start()
        worker.process, worker.started = process, time.monotonic()

    def stop(self) -> None:
        """Ask every worker to finish its requests and exit (SIGTERM); see :meth:`run`."""
        self._stopping = True

    def run(self) -> int:
        """Run until SIGINT or SIGTERM (or a worker failing at start); the exit code."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for worker in self.workers:
                self._start(worker)
            while not self._stopping:
                self._watch()
                time.sleep(0.2)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for worker in self.workers:
                worker.sock.close()
        if self.failure is not None:
            _log.error("%s", self.failure)
            return 1
        return 0

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop()

    def _watch(self) -> None:
        for worker in self.workers:
            process = worker.process
            if process is None or process.is_alive():
                continue
            lived = time.monotonic() - worker.started
            if lived < STARTUP_GRACE_S:
                self.failure = (
                    f"server process {process.pid} exited with code {process.exitcode} "
                    f"{lived:.1f} s after starting; stopping the server"
                )
                self._stopping = True
                return
            _log.warning(
                "server process %s exited with code %s; starting another",
                process.pid,
                process.exitcode,
            )
            self._start(worker)

    def _stop_all(self) -> None:
        running = [w.process for w in self.workers if w.process is not None]
        for process in running:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def serve_processes(app: str, *, workers: int, host: str, port: int, **options: Any) -> None:
    """Serve ``app`` (the import string of an app factory) from ``workers`` processes on
    ``host:port``, one socket each where the platform spreads connections over them, else
    with uvicorn's workers mode; ``options`` go to :class:`uvicorn.Config`. Returns when
    the server stops (SIGINT or SIGTERM); raises :class:`SystemExit` (code 1) when a worker
    failed to start."""
    import uvicorn

    if not spreads_connections():
        uvicorn.run(app, factory=True, workers=workers, host=host, port=port, **options)
        return
    supervisor = ProcessSupervisor(app, options, bind_sockets(host, port, workers))
    code = supervisor.run()
    if code:
        raise SystemExit(code)


__all__ = [
    "BACKLOG",
    "STARTUP_GRACE_S",
    "STOP_TIMEOUT_S",
    "ProcessSupervisor",
    "bind_sockets",
    "serve_processes",
    "spreads_connections",
]
