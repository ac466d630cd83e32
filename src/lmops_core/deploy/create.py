"""Packaging an approved model version as a signed bundle: a recorded deployment action."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from lmops_core.acting_store import ActingStore
from lmops_core.deploy import attestations
from lmops_core.deploy.approved import approved_guard_pin
from lmops_core.deploy.archive import write_tar
from lmops_core.deploy.eligibility import VersionsAndApprovals, check_deployable
from lmops_core.deploy.keys import KeyStore
from lmops_core.deploy.liveness import DEFAULT_VALIDITY
from lmops_core.deploy.pack import write_bundle
from lmops_core.digests import parse_digest
from lmops_core.errors import ConflictError, ValidationError
from lmops_core.registry import store
from lmops_core.registry.db import Database
from lmops_core.registry.models import utcnow
from lmops_core.registry.names import parse_ref
from lmops_core.registry.schemas import LineageEdgePublic
from lmops_core.registry.store import AuditWriter
from lmops_core.terms import GovernedStage


class BundleSource(ActingStore, VersionsAndApprovals, Protocol):
    """What packaging reads and records in the store it packages from (a ``Workspace`` is one)."""

    def lineage(
        self, ref: str, *, direction: str = "up", depth: int = 10
    ) -> list[LineageEdgePublic]:
        """Edges reachable from ``ref``."""
        ...

    def write_audit_checkpoint(self) -> dict[str, Any]:
        """Sign the current audit head; the checkpoint as JSON."""
        ...

    def export(self, ref: str, dest: Path) -> Path:
        """Write a version's content to ``dest``, verified."""
        ...


@dataclass(frozen=True)
class BundleInfo:
    """What ``create_bundle`` wrote and recorded."""

    path: Path
    digest: str
    key_id: str
    ref: str
    stage: GovernedStage
    request_id: str
    encrypted: bool
    archive: Path | None


def create_bundle(
    ws: BundleSource,
    ref: str,
    dest: Path | str,
    *,
    stage: GovernedStage,
    keys: KeyStore | None = None,
    encryption_key: bytes | None = None,
    archive: bool = False,
    valid_for: timedelta = DEFAULT_VALIDITY,
    guard: str | Mapping[str, str] | None = None,
) -> BundleInfo:
    """Package ``ref`` for ``stage`` into the new folder ``dest`` (and ``dest.tar`` if asked).

    Refused unless the version was approved into ``stage`` under the current
    policy (see :func:`check_deployable`). The bundle is signed with the active
    key of ``keys`` (default: the workspace's key store). On success an audit
    event ``bundle.create`` and ``bundle`` evidence are recorded in one
    transaction; if recording fails the bundle is removed. ``valid_for`` sets
    the signed ``valid_until``: how long the bundle may be accepted without a
    check against this store (revocation is always checked when it answers).
    ``guard`` pins the runtime guard configuration the model must be served behind,
    signed with the rest of the manifest; a server runs no other. Give a guard version's
    reference (``guard:NAME@N``): it must be approved for ``stage`` (else a
    ``PolicyViolationError`` naming it), and its reference, configuration name and digest
    are pinned and named in the ``bundle`` evidence. A bare ``{"name": ...,
    "digest": "sha256:..."}`` (lmops-serve's ``GuardSpec.identity()``) pins an unregistered
    configuration by digest, ungoverned.
    """
    if valid_for <= timedelta(0):
        raise ValidationError("a bundle's validity period must be positive", field="valid_for")
    pin = None if guard is None or isinstance(guard, str) else _guard_pin(guard)
    if isinstance(guard, str):
        with ws.db.read() as s:
            pin = approved_guard_pin(s, guard, stage=stage)
    keys = keys or KeyStore.for_home(ws.settings.home)
    version, approval = check_deployable(ws, ref, stage=stage)
    key_id, signing_key = keys.signing_key()
    dest = Path(dest)
    created = utcnow()
    header = {
        "stage": stage,
        "created_at": created.isoformat(),
        "created_by": ws.actor,
        "valid_until": (created + valid_for).isoformat(),
        "model": {
            "ref": version.ref,
            "digest": version.digest,
            "kind": version.kind,
            "format": version.format,
            "risk_tier": version.risk_tier,
        },
        "lineage": [e.model_dump(mode="json") for e in ws.lineage(version.ref)],
        "approval": approval.to_json(),
        "policy_digests": approval.policy_digests,
        # A fresh signed audit checkpoint: the bundle proves how far the log had grown.
        "audit_checkpoint": ws.write_audit_checkpoint(),
        "attestations": attestations.collect(ws.db, ws.settings.home, approval.request_id),
    }
    if pin is not None:
        header["guard"] = pin
    tmp = Path(tempfile.mkdtemp(prefix="bundle-", dir=_tmp_root(ws.settings.home)))
    tar_path = dest.with_name(dest.name + ".tar") if archive else None
    try:
        source = ws.export(version.ref, tmp / "model")
        digest, manifest = write_bundle(
            source,
            dest,
            header=header,
            key_id=key_id,
            signing_key=signing_key,
            encryption_key=encryption_key,
        )
        if tar_path is not None:
            write_tar(dest, tar_path)
        info = BundleInfo(
            path=dest,
            digest=digest,
            key_id=key_id,
            ref=version.ref,
            stage=stage,
            request_id=approval.request_id,
            encrypted=encryption_key is not None,
            archive=tar_path,
        )
        members = manifest["members"]
        _record(ws.db, ws.audit_writer, info, version.digest, members, pin)
    except BaseException:
        if dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        if tar_path is not None:
            tar_path.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _guard_pin(guard: Mapping[str, str]) -> dict[str, str]:
    """``{"name", "digest"}`` of a guard configuration, checked; nothing else is pinned."""
    if not isinstance(guard, Mapping) or set(guard) != {"name", "digest"}:
        raise ValidationError(
            'guard: give exactly {"name": ..., "digest": "sha256:..."}', field="guard"
        )
    name = guard["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 128:
        raise ValidationError("guard.name: 1-128 characters", field="guard.name")
    try:
        digest = parse_digest(guard["digest"])
    except ValidationError as exc:
        raise ValidationError(f"guard.digest: {exc.message}", field="guard.digest") from exc
    return {"name": name, "digest": digest}


def _tmp_root(home: Path) -> Path:
    root = home / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _record(
    db: Database,
    audit: AuditWriter,
    info: BundleInfo,
    version_digest: str,
    members: list[dict[str, Any]],
    guard: dict[str, str] | None = None,
) -> None:
    """Record the bundle ``info`` describes: an audit event and ``bundle`` evidence on the
    version, refused if the version left the stage or changed while it was packaged."""
    with db.write() as s:
        _, row = store.resolve(s, parse_ref(info.ref))
        if row.stage != info.stage or row.digest != version_digest:
            raise ConflictError(
                f"{info.ref} left {info.stage} or changed while it was being packaged"
            )
        what = {
            "bundle_digest": info.digest,
            "key_id": info.key_id,
            "stage": info.stage,
            "request_id": info.request_id,
            "encrypted": info.encrypted,
        }
        audit.record(s, "bundle.create", info.ref, after=what)
        store.attach_evidence(
            s,
            audit,
            asset_type="model",
            version=row,
            expected_digest=version_digest,
            kind="bundle",
            stage="deployment",
            plugin="lmops-core",
            metrics={
                **what,
                "members": len(members),
                "size_bytes": sum(int(m["size"]) for m in members),
            },
            details={"format": "lmops.bundle/1", **({"guard": guard} if guard else {})},
        )
