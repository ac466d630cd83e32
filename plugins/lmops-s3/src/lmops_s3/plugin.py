"""Hook implementation of lmops-s3: the backend that serves ``s3://`` artifact URIs."""

from __future__ import annotations

from lmops_core.artifacts.backend import ArtifactBackend
from lmops_core.hookspecs import hookimpl
from lmops_core.settings import Settings


@hookimpl
def lmops_artifact_backend(uri: str, settings: Settings) -> ArtifactBackend | None:
    """Open ``s3://bucket/prefix`` with the settings ``LMOPS_S3_*`` and the AWS credential chain."""
    if not uri.startswith("s3://"):
        return None
    from lmops_s3.backend import S3ArtifactBackend
    from lmops_s3.settings import S3Settings

    return S3ArtifactBackend.connect(uri, S3Settings())
