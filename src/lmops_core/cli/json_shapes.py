"""The JSON shape of each object the CLI reports, defined once.

Every command that prints a version, a request, an evidence record, an audit
event, a run, a lineage edge or a verification result with ``--json`` goes
through the function here for that object, so an object looks the same in
``models show``, ``models search``, ``stage`` and ``promote``. Values are JSON
types (timestamps as ISO 8601 strings) with secrets masked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from lmops_core.evidence_summary import summarize_metrics
from lmops_core.redaction import redact

if TYPE_CHECKING:  # the shapes' inputs; importing them would load the store to list commands
    from lmops_core.audit.chain import VerifyResult
    from lmops_core.contracts import EvidenceKind
    from lmops_core.governance.keys import KeyPublic
    from lmops_core.governance.schemas import ApprovalRequestPublic, Page
    from lmops_core.governance.signing import DecisionVerifyResult
    from lmops_core.policy.issues import LintIssue
    from lmops_core.registry.schemas import (
        AssetPublic,
        AuditEventPublic,
        EvidencePublic,
        LineageEdgePublic,
        RunPublic,
        VersionPublic,
    )
    from lmops_core.runtimes import Guard, ModelRuntime, ServingTarget


def _timestamp(value: datetime) -> str:
    # The store keeps UTC; SQLite hands it back without a zone. One spelling either way.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, BaseModel):
        return _jsonable(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def _dump(model: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = plain(model)
    return dumped


def asset_json(asset: AssetPublic) -> dict[str, Any]:
    """An asset without its versions."""
    return _dump(asset)


def version_json(version: VersionPublic) -> dict[str, Any]:
    """A version of any asset type, with the fields of its type."""
    return _dump(version)


def evidence_json(
    evidence: EvidencePublic, *, kinds: Mapping[str, EvidenceKind] | None = None
) -> dict[str, Any]:
    """An evidence record, plus ``headline``: its summary by :func:`summarize_metrics`
    (the headline metrics its kind declares, when ``kinds`` holds the declarations)."""
    out = _dump(evidence)
    out["headline"] = summarize_metrics(evidence.kind, out["metrics"], kinds=kinds)
    return out


def lineage_edge_json(edge: LineageEdgePublic) -> dict[str, Any]:
    """``child`` derived from ``parent`` by ``relation`` in run ``run_id``."""
    return _dump(edge)


def run_json(run: RunPublic) -> dict[str, Any]:
    """A recorded stage run."""
    return _dump(run)


def audit_event_json(event: AuditEventPublic) -> dict[str, Any]:
    """One audit event."""
    return _dump(event)


def request_json(request: ApprovalRequestPublic) -> dict[str, Any]:
    """A promotion request (with evaluation, evidence and stage occupant when it is the detail)."""
    return _dump(request)


def request_page_json(page: Page) -> dict[str, Any]:
    """One page of requests: ``items`` (each as :func:`request_json`), ``total``, paging."""
    return {
        "items": [request_json(r) for r in page.items],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


def key_json(key: KeyPublic) -> dict[str, Any]:
    """A registered personal signing key (never a private half)."""
    out: dict[str, Any] = plain({**dataclasses.asdict(key), "active": key.active})
    return out


def verify_json(chain: VerifyResult, decisions: DecisionVerifyResult) -> dict[str, Any]:
    """The audit verification: ``ok`` only when the chain and every signed decision verify."""
    out: dict[str, Any] = plain(
        {
            "ok": chain.ok and decisions.ok,
            "chain": {**dataclasses.asdict(chain), "message": str(chain)},
            "decisions": {
                "ok": decisions.ok,
                "decisions_checked": decisions.decisions_checked,
                "keys_checked": decisions.keys_checked,
                "problems": list(decisions.problems),
            },
        }
    )
    return out


def lint_issue_json(issue: LintIssue) -> dict[str, Any]:
    """One problem found in a policy file."""
    out: dict[str, Any] = plain({**issue.to_dict(), "text": str(issue)})
    return out


def stage_outcome_json(
    run_id: str,
    outputs: Mapping[str, VersionPublic],
    evidence: list[EvidencePublic],
    *,
    kinds: Mapping[str, EvidenceKind] | None = None,
) -> dict[str, Any]:
    """What ``lmops stage`` recorded: the run id, each output version by role, the evidence."""
    return {
        "run_id": run_id,
        "outputs": {role: version_json(v) for role, v in outputs.items()},
        "evidence": [evidence_json(e, kinds=kinds) for e in evidence],
    }


def model_runtime_json(plugin: str, runtime: ModelRuntime) -> dict[str, Any]:
    """A model runtime: the model ``kind`` it opens, the plugin registering it, its ``engine``,
    whether it ``needs_base`` (a model under role ``"base"``) and its ``capabilities``."""
    return {
        "kind": runtime.kind,
        "plugin": plugin,
        "engine": runtime.engine,
        "needs_base": runtime.needs_base,
        "capabilities": sorted(runtime.capabilities),
        "description": runtime.description,
    }


def guard_json(plugin: str, guard: Guard) -> dict[str, Any]:
    """A text guard: its ``name`` (as ``context.guard(name)`` asks for it) and its plugin."""
    return {"name": guard.name, "plugin": plugin, "description": guard.description}


def serving_target_json(plugin: str, target: ServingTarget) -> dict[str, Any]:
    """A serving target: its ``name`` (as a deployment asks for it) and its plugin."""
    return {"name": target.name, "plugin": plugin, "description": target.description}


def plain(value: Any) -> Any:
    """Any value as JSON types: timestamps as ISO 8601 in UTC ("...Z"), secrets masked.

    Every shape above goes through here; reports without a shape of their own (a gc
    summary, a token list) use it directly.
    """
    return redact(json.loads(json.dumps(_jsonable(value), default=str)))
