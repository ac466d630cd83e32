"""How a data engine's worker opens the same S3 store: the URI, and the environment it reads.

A worker connects as the calling process does (:class:`~lmops_s3.settings.S3Settings` and
boto3's credential chain), from its own environment: the engine forwards the ``AWS_*`` and
``LMOPS_S3_*`` variables set in the calling process. Nothing secret is pickled with the opener.
"""

from __future__ import annotations

from dataclasses import dataclass

from lmops_core.artifacts.backend import ArtifactBackend


@dataclass(frozen=True)
class S3Opener:
    """Opens ``s3://bucket/prefix`` in the process that calls it."""

    uri: str
    env_prefixes: tuple[str, ...] = ("AWS_", "LMOPS_S3_")

    def __call__(self) -> ArtifactBackend:
        from lmops_s3.backend import S3ArtifactBackend
        from lmops_s3.settings import S3Settings

        return S3ArtifactBackend.connect(self.uri, S3Settings())
