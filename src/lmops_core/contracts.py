"""Types exchanged between the core and plugins.

A plugin receives a :class:`StageContext` (materialised, read-only inputs and a
private working folder) and returns a :class:`StageResult` describing files it
wrote and evidence it measured. The core alone writes the registry: it stores
the files as artifacts, creates the versions, evidence, lineage edges, the run
record and the audit events, all in one transaction.

This module imports nothing else of lmops but errors, so plugins can depend on
it without pulling in the database layer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from lmops_core.errors import StageError

AssetType = Literal["dataset", "model", "prompt", "suite"]


class Stage(enum.StrEnum):
    """The lifecycle stages, in lifecycle order."""

    DATA_PREPARATION = "data_preparation"
    TRAINING = "training"
    COMPRESSION = "compression"
    EVALUATION = "evaluation"
    EXPLAINABILITY = "explainability"
    DEPLOYMENT = "deployment"
    MONITORING = "monitoring"


class ProgressReporter(Protocol):
    """What a plugin calls to report progress; the CLI renders it as a bar."""

    def start(self, description: str, total: float | None = None) -> None: ...

    def advance(self, amount: float = 1.0, **fields: Any) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """A progress reporter that shows nothing (services, tests)."""

    def start(self, description: str, total: float | None = None) -> None:
        return None

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        return None

    def finish(self) -> None:
        return None


@dataclass(frozen=True)
class InputAsset:
    """A registered version handed to a plugin, materialised on local disk.

    ``path`` is a folder for models and a file for datasets; treat it as
    read-only (it may be shared with other runs).
    """

    role: str
    ref: str
    asset_type: AssetType
    kind: str
    digest: str
    path: Path | None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StageContext:
    """Everything a stage operation may use; built by the core for each run."""

    stage: Stage
    operation: str
    inputs: Mapping[str, InputAsset]
    params: Mapping[str, Any]
    workdir: Path
    actor: str
    run_id: str
    seed: int | None = None
    progress: ProgressReporter = field(default_factory=NullProgress)

    def input(self, role: str) -> InputAsset:
        """The input bound to ``role``, or a :class:`StageError` naming it."""
        try:
            return self.inputs[role]
        except KeyError:
            have = ", ".join(sorted(self.inputs)) or "none"
            raise StageError(
                f'operation "{self.operation}" needs an input for role "{role}" (given: {have})'
            ) from None


@dataclass(frozen=True)
class OutputAsset:
    """A file or folder a plugin wrote under ``workdir``, to become a new version.

    ``name`` is the asset it becomes a version of; when ``None`` the core uses
    the asset of the first role in ``derived_from``. ``derived_from`` lists the
    input roles it was made from: they become lineage edges.
    """

    role: str
    asset_type: AssetType
    path: Path
    kind: str
    derived_from: Sequence[str] = ()
    name: str | None = None
    format: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: Risk tier (low, standard, high) given to the asset if this output creates it.
    risk_tier: str | None = None


@dataclass(frozen=True)
class EvidenceRecord:
    """A measured result to attach, immutably, to an input or output version.

    ``subject`` is a role (an output's or an input's). ``artifacts`` maps a
    name to a file under ``workdir`` (an HTML report, per-sample outputs).
    """

    kind: str
    subject: str
    metrics: Mapping[str, Any]
    details: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, Path] = field(default_factory=dict)


@dataclass
class StageResult:
    """What an operation returns: outputs, evidence, and run-level numbers."""

    outputs: list[OutputAsset] = field(default_factory=list)
    evidence: list[EvidenceRecord] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Operation(Protocol):
    """A named unit of work a plugin registers for one lifecycle stage.

    An operation may also declare ``input_roles`` (a tuple of role names); the
    runner then refuses any other role before anything is materialised.
    """

    name: str
    description: str

    def run(self, context: StageContext) -> StageResult: ...


@dataclass(frozen=True)
class EvidenceKind:
    """A kind of evidence a plugin produces, so policies can name it.

    ``metrics`` maps each metric the kind records to its type name
    (``"number"``, ``"integer"``, ``"string"``, ``"boolean"``); a name may be a
    ``fnmatch`` pattern (``"*.acc"``) where names vary. When a kind declares
    metrics, a policy condition reading any other metric of it is an error
    (``lmops policy lint``, and a blocking verdict at promotion).
    """

    name: str
    description: str
    metrics: Mapping[str, str] = field(default_factory=dict)


PolicyCheckFunction = Callable[..., Any]


@dataclass(frozen=True)
class PolicyCheck:
    """A named function a policy expression may call, e.g. ``acme.toxicity(x)``."""

    name: str
    function: PolicyCheckFunction
    description: str = ""


@dataclass(frozen=True)
class PromotionContext:
    """A promotion about to happen, offered to plugins for a veto."""

    request_id: str
    asset_type: AssetType
    ref: str
    version_digest: str
    target_stage: str
    requested_by: str
    evidence: Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class DecisionEvent:
    """A governance transition that has just been committed.

    ``decision`` is what happened: a reviewer ``approved`` or ``rejected``, the
    version was ``promoted`` (with or without approvals), a plugin ``vetoed``
    the promotion, the request ``expired`` or was ``invalidated``, the version
    was ``revoked`` or ``revalidated``. ``status`` is the request's status
    after it (the version's status for revocation and revalidation).
    """

    request_id: str | None
    ref: str
    target_stage: str
    decision: Literal["approved", "rejected", "promoted", "vetoed", "revoked", "expired",
                      "invalidated", "revalidated"]
    actor: str
    comment: str = ""
    status: str | None = None


Register = Callable[[Any], None]
