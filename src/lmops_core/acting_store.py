"""What a service above the registry uses of a store acting as one actor.

The SDK facade (:class:`~lmops_core.workspace.Workspace`) is one; services
that act for a user (packaging a bundle, a monitoring check) are typed
against this protocol, never against the facade, so they import nothing above
them and take only what they use.
"""

from __future__ import annotations

from typing import Protocol

from lmops_core.registry.db import Database
from lmops_core.registry.store import AuditWriter
from lmops_core.settings import Settings


class ActingStore(Protocol):
    """A store's database and settings, the actor acting on it and its audit writer."""

    db: Database
    settings: Settings

    @property
    def actor(self) -> str:
        """The name acting (recorded on what it creates)."""
        ...

    @property
    def audit_writer(self) -> AuditWriter:
        """Appends audit events as :attr:`actor`."""
        ...


__all__ = ["ActingStore"]
