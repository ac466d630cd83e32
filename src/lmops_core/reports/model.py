"""Gathering what a validation report says about one version from a workspace.

Only registry facts are read: versions, lineage edges, evidence metrics, runs,
the policy evaluation and the approval requests. Dataset contents are never
read, so the report cannot carry personal data from a training set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lmops_core.artifacts.store import ArtifactStore
from lmops_core.contracts import AssetType, EvidenceKind
from lmops_core.errors import ValidationError
from lmops_core.governance.schemas import ApprovalRequestPublic, Page
from lmops_core.plugins import PluginHost
from lmops_core.policy import PolicyEvaluation
from lmops_core.registry.schemas import (
    EvidencePublic,
    LineageEdgePublic,
    RunPublic,
    VersionPublic,
)
from lmops_core.terms import GovernedStage


class ReportJudge(Protocol):
    """What a report asks the governance service: the policy's verdict, the requests."""

    def explain(self, ref: str, *, to: GovernedStage) -> PolicyEvaluation:
        """How the policy judges promoting ``ref`` to ``to`` now."""
        ...

    def list_requests(
        self, *, asset_type: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        """A page of promotion requests (of one asset type), newest first."""
        ...


class ReportSource(Protocol):
    """What a report reads of a store: registry facts only (a ``Workspace`` is one)."""

    plugins: PluginHost
    artifacts: ArtifactStore

    @property
    def governance(self) -> ReportJudge:
        """The governance service: the policy's verdict, the requests."""
        ...

    def get(self, ref: str) -> VersionPublic:
        """The version a reference names."""
        ...

    def lineage(
        self, ref: str, *, direction: str = "up", depth: int = 10
    ) -> list[LineageEdgePublic]:
        """Edges reachable from ``ref`` going up or down."""
        ...

    def evidence(self, ref: str, *, kind: str | None = None) -> list[EvidencePublic]:
        """The evidence on ``ref``."""
        ...

    def list_versions(self, asset_type: AssetType, name: str) -> list[VersionPublic]:
        """Every version of an asset."""
        ...

    def run(self, run_id: str) -> RunPublic:
        """One run."""
        ...

    def latest_audit_checkpoint(self) -> dict[str, Any] | None:
        """The newest signed audit checkpoint, or ``None``."""
        ...


_REQUEST_PAGE = 500


@dataclass(frozen=True)
class TrainingRun:
    """A training run in the version's lineage and its loss curve (empty when not recorded)."""

    run: RunPublic
    loss: tuple[float, ...]

    @classmethod
    def read(cls, ws: ReportSource, run: RunPublic) -> TrainingRun:
        """``run`` with the loss curve it recorded as its series (empty when none)."""
        if not run.series_digest:
            return cls(run, ())
        series = json.loads(ws.artifacts.read_bytes(run.series_digest))
        values = series.get("loss", []) if isinstance(series, dict) else []
        return cls(run, tuple(float(v) for v in values if isinstance(v, int | float)))


@dataclass(frozen=True)
class GuardPin:
    """A guard version a bundle of the reported version pinned: the guard that was live
    wherever that bundle was served (read from the ``bundle`` evidence)."""

    bundle_digest: str
    stage: str
    ref: str
    name: str
    digest: str


def guard_pins(evidence: tuple[EvidencePublic, ...]) -> tuple[GuardPin, ...]:
    """The registered guard versions the bundles in ``evidence`` pinned, oldest bundle first."""
    pins = []
    for e in sorted((e for e in evidence if e.kind == "bundle"), key=_evidence_order):
        pin = e.details.get("guard")
        if isinstance(pin, dict) and isinstance(pin.get("ref"), str):
            pins.append(
                GuardPin(
                    bundle_digest=str(e.metrics.get("bundle_digest", "")),
                    stage=str(e.metrics.get("stage", "")),
                    ref=pin["ref"],
                    name=str(pin.get("name", "")),
                    digest=str(pin.get("digest", "")),
                )
            )
    return tuple(pins)


@dataclass(frozen=True)
class ReportFacts:
    """Everything a report shows, read once so rendering does no I/O."""

    version: VersionPublic
    target: str
    ancestors: tuple[LineageEdgePublic, ...]
    descendants: tuple[LineageEdgePublic, ...]
    nodes: dict[str, VersionPublic]
    evidence: dict[str, tuple[EvidencePublic, ...]]  # ref -> evidence, for every lineage node
    training: tuple[TrainingRun, ...]
    production: VersionPublic | None
    production_evidence: tuple[EvidencePublic, ...]
    evaluation: PolicyEvaluation
    requests: tuple[ApprovalRequestPublic, ...]
    dataset_refs: tuple[str, ...] = field(default=())
    #: Every declared evidence kind, by name (how to summarise any kind's evidence).
    kinds: Mapping[str, EvidenceKind] = field(default_factory=dict)
    #: The kinds the core itself records (the governance trail, dataset cards...).
    core_kinds: frozenset[str] = frozenset()
    #: Guard versions the version's bundles pinned (their evidence is in ``evidence``).
    guards: tuple[GuardPin, ...] = ()

    def lineage_models(self) -> list[str]:
        """The version itself, then every version derived from it, sorted by ref."""
        return [self.version.ref] + sorted({e.child for e in self.descendants})

    def latest(self, ref: str, kind: str) -> EvidencePublic | None:
        """The newest evidence of ``kind`` on ``ref`` (ties broken by id)."""
        found = [e for e in self.evidence.get(ref, ()) if e.kind == kind]
        return max(found, key=_evidence_order) if found else None


def _evidence_order(e: EvidencePublic) -> tuple[Any, int]:
    return (e.created_at, e.id)


def _sorted_edges(edges: list[LineageEdgePublic]) -> tuple[LineageEdgePublic, ...]:
    unique = {(e.parent, e.child, e.relation, e.run_id or ""): e for e in edges}
    return tuple(unique[k] for k in sorted(unique))


def gather(ws: ReportSource, ref: str, *, to: GovernedStage = "production") -> ReportFacts:
    """Read the facts for a report on the model version ``ref`` judged for stage ``to``."""
    version = ws.get(ref)
    if version.asset_type != "model":
        raise ValidationError(
            f"reports cover model versions; {version.ref} is a {version.asset_type}", field="ref"
        )
    ref = version.ref
    ancestors = _sorted_edges(ws.lineage(ref, direction="up"))
    descendants = _sorted_edges(ws.lineage(ref, direction="down"))
    refs = sorted(
        {ref}
        | {e.parent for e in ancestors}
        | {e.child for e in ancestors}
        | {e.parent for e in descendants}
        | {e.child for e in descendants}
    )
    nodes = {r: ws.get(r) for r in refs}
    evidence = {
        r: tuple(sorted(ws.evidence(r), key=lambda e: (e.kind, *_evidence_order(e)))) for r in refs
    }
    guards = guard_pins(evidence[ref])
    for guard in sorted({g.ref for g in guards}):
        nodes[guard] = ws.get(guard)
        evidence[guard] = tuple(
            sorted(ws.evidence(guard), key=lambda e: (e.kind, *_evidence_order(e)))
        )
    production = next(
        (
            v
            for v in ws.list_versions("model", version.name)
            if v.stage == "production" and v.ref != ref
        ),
        None,
    )
    return ReportFacts(
        version=version,
        target=to,
        ancestors=ancestors,
        descendants=descendants,
        nodes=nodes,
        evidence=evidence,
        training=_training_runs(ws, ref, ancestors, evidence),
        production=production,
        production_evidence=tuple(
            sorted(ws.evidence(production.ref), key=lambda e: (e.kind, *_evidence_order(e)))
        )
        if production
        else (),
        evaluation=ws.governance.explain(ref, to=to),
        requests=_requests_for(ws, ref),
        dataset_refs=tuple(r for r in refs if r.startswith("dataset:")),
        kinds=ws.plugins.declared_kinds(),
        core_kinds=frozenset(
            name
            for name, reg in ws.plugins.evidence_kinds.items()
            if reg.plugin.startswith("lmops-core")
        ),
        guards=guards,
    )


def _training_runs(
    ws: ReportSource,
    ref: str,
    ancestors: tuple[LineageEdgePublic, ...],
    evidence: dict[str, tuple[EvidencePublic, ...]],
) -> tuple[TrainingRun, ...]:
    # A run shows up either as the run that derived a model in the lineage, or as the
    # run that recorded training-stage evidence on one; only training-stage runs count.
    models = {ref} | {e.parent for e in ancestors if e.parent.startswith("model:")}
    ids = {e.run_id for e in ancestors if e.run_id and e.child in models}
    ids |= {
        e.run_id for m in models for e in evidence.get(m, ()) if e.stage == "training" and e.run_id
    }
    out = []
    for run_id in sorted(ids):
        run = ws.run(run_id)
        if run.stage != "training":
            continue
        out.append(TrainingRun.read(ws, run))
    return tuple(sorted(out, key=lambda t: (t.run.started_at, t.run.id)))


def _requests_for(ws: ReportSource, ref: str) -> tuple[ApprovalRequestPublic, ...]:
    found: list[ApprovalRequestPublic] = []
    offset = 0
    while True:
        page = ws.governance.list_requests(asset_type="model", limit=_REQUEST_PAGE, offset=offset)
        found.extend(r for r in page.items if r.ref == ref)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return tuple(sorted(found, key=lambda r: (r.created_at, r.id)))


__all__ = ["GuardPin", "ReportFacts", "ReportJudge", "ReportSource", "TrainingRun", "gather"]
