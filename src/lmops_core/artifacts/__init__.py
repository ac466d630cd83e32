"""Content-addressed artifact storage: backends and the store facade."""

from lmops_core.artifacts.backend import ArtifactBackend, ArtifactInfo
from lmops_core.artifacts.store import ArtifactStore, TreeEntry, TreeManifest

__all__ = ["ArtifactBackend", "ArtifactInfo", "ArtifactStore", "TreeEntry", "TreeManifest"]
