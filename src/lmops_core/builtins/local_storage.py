"""The default artifact backend (``local://``), registered as a plugin like any other."""

from __future__ import annotations

from pathlib import Path

from lmops_core.artifacts.backend import ArtifactBackend
from lmops_core.artifacts.local import SCHEME, LocalArtifactBackend, root_from_uri
from lmops_core.hookspecs import hookimpl
from lmops_core.settings import Settings


@hookimpl(trylast=True)
def lmops_artifact_backend(uri: str, settings: Settings) -> ArtifactBackend | None:
    """Serve ``local://`` URIs and absolute folder paths."""
    if uri.startswith(f"{SCHEME}://"):
        return LocalArtifactBackend(root_from_uri(uri), uri=uri)
    if "://" not in uri and Path(uri).is_absolute():
        return LocalArtifactBackend(Path(uri), uri=f"{SCHEME}://{uri}")
    return None
