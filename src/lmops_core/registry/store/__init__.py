"""The metadata store: every registry write, each with its audit event.

Functions here take an open write session and an :class:`AuditWriter`; the
caller owns the transaction, so a stage that registers three versions, their
evidence and lineage commits all of it, with its audit events, or none.

One module per job, all re-exported here (``store.resolve(...)``):
:mod:`~lmops_core.registry.store.tables` (asset types and their tables),
:mod:`~lmops_core.registry.store.writer` (the audit writer),
:mod:`~lmops_core.registry.store.assets`, :mod:`~lmops_core.registry.store.versions`
(writing versions), :mod:`~lmops_core.registry.store.refs` (resolving and reading them),
:mod:`~lmops_core.registry.store.labels` (tags and aliases),
:mod:`~lmops_core.registry.store.evidence` (evidence and its metrics index),
:mod:`~lmops_core.registry.store.lineage` (lineage and runs) and
:mod:`~lmops_core.registry.store.search`.
"""

from __future__ import annotations

from lmops_core.registry.store.assets import check_risk_tier, ensure_asset, get_asset, list_assets
from lmops_core.registry.store.evidence import (
    ANY_PAIR,
    PAIRED_SUBJECTS,
    attach_dataset_card,
    attach_evidence,
    evidence_digest,
    evidence_values,
    insert_evidence,
    list_evidence,
    numeric_metrics,
    record_attached,
    record_metrics,
)
from lmops_core.registry.store.labels import (
    aliases_of,
    set_alias,
    set_tag,
    tags_and_aliases,
    tags_of,
)
from lmops_core.registry.store.lineage import add_lineage, lineage_edges, record_run
from lmops_core.registry.store.refs import asset_of, list_versions, ref_of, resolve, version_by_id
from lmops_core.registry.store.search import MetricFilter, search_versions
from lmops_core.registry.store.tables import asset_classes, version_ref
from lmops_core.registry.store.versions import create_version
from lmops_core.registry.store.writer import (
    CREATION_ACTION_SUFFIX,
    AuditWriter,
    author_identity,
    author_method,
)

__all__ = [
    "CREATION_ACTION_SUFFIX",
    "ANY_PAIR",
    "PAIRED_SUBJECTS",
    "AuditWriter",
    "MetricFilter",
    "add_lineage",
    "aliases_of",
    "asset_classes",
    "asset_of",
    "attach_dataset_card",
    "attach_evidence",
    "author_identity",
    "author_method",
    "check_risk_tier",
    "create_version",
    "ensure_asset",
    "evidence_digest",
    "evidence_values",
    "insert_evidence",
    "get_asset",
    "lineage_edges",
    "list_assets",
    "list_evidence",
    "list_versions",
    "numeric_metrics",
    "record_attached",
    "record_metrics",
    "record_run",
    "ref_of",
    "resolve",
    "search_versions",
    "set_alias",
    "set_tag",
    "tags_and_aliases",
    "tags_of",
    "version_by_id",
    "version_ref",
]
