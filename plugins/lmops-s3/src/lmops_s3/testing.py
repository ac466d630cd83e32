"""A real S3-protocol server on loopback for tests: moto's standalone server, over HTTP.

``moto[server]`` (the ``test`` extra) is started as a child process on a port
the operating system picks, with authentication on: a user, its access key and
an allow-all S3 policy are made on the server first, so a wrong key or secret is
refused exactly as AWS refuses it. Nothing here patches boto3 in-process.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from lmops_s3.settings import S3Settings

#: The server answers this many requests without credentials: the ones that make the user.
_SETUP_REQUESTS = 3
_ALLOW_S3 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
_RUNNING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")
_shared: list[MotoServer] = []
_shared_lock = threading.Lock()


def shared_server() -> MotoServer:
    """This process's server (one per pytest-xdist worker), started on first use and
    stopped when the process exits; tests keep apart by prefix (:meth:`MotoServer.fresh_uri`)."""
    with _shared_lock:
        if not _shared or _shared[0].process.poll() is not None:
            server = MotoServer.start()
            atexit.register(server.stop)
            _shared[:] = [server]
        return _shared[0]


@dataclass
class MotoServer:
    """One running server: its endpoint, a valid key pair and a bucket."""

    process: subprocess.Popen[str]
    endpoint: str
    access_key: str = ""
    secret_key: str = ""
    bucket: str = "lmops-test"
    _log: list[str] = field(default_factory=list)
    _session: Any = None

    @classmethod
    def start(cls, *, startup_timeout: float = 120.0) -> MotoServer:
        """Start a server and wait until it answers; make its user and bucket."""
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_REQUESTS)}
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        log: list[str] = []
        port: list[int] = []
        ready = threading.Event()

        def drain() -> None:  # keeps reading, or the server blocks once its log fills the pipe
            assert process.stderr is not None
            for line in process.stderr:
                if len(log) < 200:
                    log.append(line)
                if not port and (match := _RUNNING.search(line)):
                    port.append(int(match.group(1)))
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True, name="moto-log").start()
        if not ready.wait(startup_timeout) or not port:
            process.kill()
            raise RuntimeError(f"moto server did not start: {''.join(log)}")
        socket.create_connection(("127.0.0.1", port[0]), timeout=10).close()  # it answers
        server = cls(process=process, endpoint=f"http://127.0.0.1:{port[0]}", _log=log)
        server._make_user_and_bucket()
        return server

    def _make_user_and_bucket(self) -> None:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
            region_name="us-east-1",
        )
        iam.create_user(UserName="lmops")
        key = iam.create_access_key(UserName="lmops")["AccessKey"]
        iam.put_user_policy(UserName="lmops", PolicyName="s3", PolicyDocument=json.dumps(_ALLOW_S3))
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        self.client().create_bucket(Bucket=self.bucket)

    def session(self, *, secret_key: str | None = None) -> Any:
        """A boto3 session with this server's key (or a wrong ``secret_key``).

        The valid one is made once: a session caches the service model every client loads.
        """
        import boto3

        if secret_key is None and self._session is not None:
            return self._session
        session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )
        if secret_key is None:
            self._session = session
        return session

    def client(self) -> Any:
        """A plain boto3 S3 client on this server."""
        return self.session().client("s3", endpoint_url=self.endpoint)

    def settings(self, **overrides: Any) -> S3Settings:
        """Backend settings for this server (small parts, one try per request)."""
        values: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region": "us-east-1",
            "max_attempts": 1,
            **overrides,
        }
        return S3Settings(**values)

    def env(self) -> dict[str, str]:
        """Environment variables that point a process's lmops at this server."""
        return {
            "LMOPS_S3_ENDPOINT_URL": self.endpoint,
            "LMOPS_S3_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def fresh_uri(self) -> str:
        """An ``s3://`` URI under a prefix no other test uses."""
        return f"s3://{self.bucket}/t-{uuid.uuid4().hex[:12]}"

    def kill(self) -> None:
        """Stop the server at once (SIGKILL), as a crashed or unplugged server goes away."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
