"""The signed approval statements a bundle carries, and their verification from the bundle alone.

A bundle's manifest holds ``attestations``: every decision of the approval
that made the version deployable, as the exact statement text, its signature
and the signing key's fingerprint, plus the public keys of those signers. The
manifest itself is signed by a trusted bundle key, which so vouches for the
carried public keys; each statement must then verify, name the bundled
model's digest and the bundled approval, and match the decisions listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lmops_core.errors import IntegrityError, LmopsError
from lmops_core.governance.identity import fingerprint_of, parse_public_pem, public_pem
from lmops_core.governance.models import ApprovalDecision
from lmops_core.governance.signing import (
    SERVER_METHODS,
    Signed,
    check,
    decision_signed,
    registered_keys,
    server_public_keys,
)
from lmops_core.registry.db import Database

SECTION = "attestations"


@dataclass(frozen=True)
class AttestedDecision:
    """One verified approval statement: who decided what, on which digest, signed by which key."""

    actor: str
    role: str
    decision: str
    version_digest: str
    auth_method: str
    key_fingerprint: str
    signer: str
    time: str
    comment: str

    def to_json(self) -> dict[str, str]:
        """A JSON-friendly form for ``bundle verify --json``."""
        return dict(self.__dict__)


def collect(db: Database, home: Path, request_id: str) -> dict[str, Any]:
    """The ``attestations`` section for the approval ``request_id`` (refused if unsigned)."""
    from sqlalchemy import select
    from sqlmodel import col

    with db.read() as s:
        rows = (
            s.execute(
                select(ApprovalDecision)
                .where(col(ApprovalDecision.request_id) == request_id)
                .order_by(col(ApprovalDecision.id))
            )
            .scalars()
            .all()
        )
        signed = []
        for row in rows:
            try:
                signed.append(decision_signed(row))
            except LmopsError as exc:
                raise IntegrityError(
                    f"cannot package an approval with an unsigned decision: {exc}"
                ) from exc
        personal = {
            fp: (k.user, k.public_key)
            for fp, k in registered_keys(s, {x.key_fingerprint for x in signed}).items()
        }
    server = server_public_keys(home)
    keys: dict[str, dict[str, str]] = {}
    for x in signed:
        fp = x.key_fingerprint
        if fp in personal:
            keys[fp] = {"owner": personal[fp][0], "public_key": personal[fp][1]}
        elif fp in server:
            keys[fp] = {"owner": "server", "public_key": public_pem(server[fp])}
        else:
            raise IntegrityError(
                f"decision signed by key {fp}, which is neither registered nor "
                "a key of this server: run `lmops audit verify`"
            )
    return {"statements": [x.to_json() for x in signed], "keys": keys}


def verify(
    manifest: Mapping[str, Any], trusted: Mapping[str, Ed25519PublicKey]
) -> list[AttestedDecision]:
    """Verify the statements of a manifest whose own signature already verified.

    Raises ``IntegrityError`` naming the statement at fault: a bad signature,
    a digest other than the bundled model's, another request, a signer whose
    key does not belong to the actor, or decisions listed without a statement.
    """
    approval = dict(manifest.get("approval") or {})
    listed = list(approval.get("decisions") or [])
    section = manifest.get(SECTION)
    if section is None:
        if listed:
            raise IntegrityError(
                "the bundle lists approval decisions but carries no signed approval statements",
                file="manifest.json",
            )
        return []
    carried = _carried_keys(section.get("keys") or {})
    keys = {**dict(trusted), **{fp: k for fp, (_, k) in carried.items()}}
    model = manifest.get("model") or {}
    out = []
    for i, item in enumerate(section.get("statements") or []):
        try:
            signed = Signed(
                str(item["statement"]), str(item["signature"]), str(item["key_fingerprint"])
            )
        except (KeyError, TypeError) as exc:
            raise IntegrityError(f"approval statement {i}: malformed ({exc})") from exc
        body = check(signed, keys)
        where = f"approval statement {i} ({body.get('decision')} by {body.get('actor')!r})"
        if body.get("version_digest") != model.get("digest"):
            raise IntegrityError(
                f"{where} is about digest {body.get('version_digest')}, not the "
                f"bundled model's {model.get('digest')}"
            )
        if body.get("request_id") != approval.get("request_id"):
            raise IntegrityError(
                f"{where} decides request {body.get('request_id')}, not the "
                f"bundled approval {approval.get('request_id')}"
            )
        method = str((body.get("auth") or {}).get("method"))
        owner = carried.get(signed.key_fingerprint, ("server", None))[0]
        if owner == "server" and method not in SERVER_METHODS:
            raise IntegrityError(f"{where} claims {method} but is signed by the server")
        if owner != "server" and (method != "personal-key" or owner != body.get("actor")):
            raise IntegrityError(f"{where} is signed with the key of {owner!r}")
        out.append(
            AttestedDecision(
                actor=str(body.get("actor")),
                role=str(body.get("role")),
                decision=str(body.get("decision")),
                version_digest=str(body.get("version_digest")),
                auth_method=method,
                key_fingerprint=signed.key_fingerprint,
                signer="server key" if owner == "server" else f"personal key of {owner}",
                time=str(body.get("time")),
                comment=str(body.get("comment")),
            )
        )
    stated = sorted((a.actor, a.role, a.decision) for a in out)
    expected = sorted(
        (str(d.get("actor")), str(d.get("role")), str(d.get("decision"))) for d in listed
    )
    if stated != expected:
        raise IntegrityError(
            f"the approval lists decisions {expected} but the signed statements say {stated}",
            file="manifest.json",
        )
    return out


def _carried_keys(raw: Mapping[str, Any]) -> dict[str, tuple[str, Ed25519PublicKey]]:
    out = {}
    for fp, entry in raw.items():
        key = parse_public_pem(str(entry.get("public_key", "")), where=f"bundle key {fp}")
        if fingerprint_of(key) != fp:
            raise IntegrityError(
                f"bundle key {fp}: its public key has fingerprint {fingerprint_of(key)}"
            )
        out[str(fp)] = (str(entry.get("owner", "")), key)
    return out


__all__ = ["AttestedDecision", "collect", "verify"]
