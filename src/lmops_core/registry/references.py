"""Which artifact blobs the metadata store points at: the roots of artifact garbage collection.

Every table that stores a blob digest must be listed here, or ``lmops gc`` will
delete that blob once it is older than the grace period.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from lmops_core.registry.models import (
    DatasetVersion,
    Evidence,
    GuardVersion,
    ModelVersion,
    Run,
    SuiteVersion,
)

RELEASED = "released"
"""The status of a version whose content ``lmops gc`` may collect (its record stays)."""


def referenced_digests(session: Session) -> tuple[set[str], set[str]]:
    """``(file blobs, folder manifests)`` referenced by versions, evidence and runs."""
    # A released version (a sweep's losing trial) keeps its record, not its files.
    files: set[str] = set(
        session.execute(
            select(col(DatasetVersion.digest)).where(col(DatasetVersion.status) != RELEASED)
        ).scalars()
    )
    trees: set[str] = set(
        session.execute(
            select(col(ModelVersion.digest)).where(col(ModelVersion.status) != RELEASED)
        ).scalars()
    )
    trees.update(session.execute(select(col(SuiteVersion.digest))).scalars())
    # A partitioned dataset's manifest is a folder manifest: it keeps every partition.
    trees.update(
        d for d in session.execute(select(col(DatasetVersion.manifest_digest))).scalars() if d
    )
    files.update(session.execute(select(col(GuardVersion.file_digest))).scalars())
    files.update(d for d in session.execute(select(col(Run.series_digest))).scalars() if d)
    for artifacts in session.execute(select(col(Evidence.artifacts))).scalars():
        files.update(v for v in (artifacts or {}).values() if isinstance(v, str))
    return files, trees
