"""A bundle carries the signed approval statements: who approved what, on which digest.

Each attack rewrites the manifest and re-signs it with the trusted bundle key, so
only the statements themselves can catch it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmops_core.deploy import KeyStore, create_bundle, load_bundle
from lmops_core.deploy.attestations import verify
from lmops_core.deploy.manifest import MANIFEST, SIGNATURE, canonical_bytes, sign
from lmops_core.errors import IntegrityError
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder
from tests.deploy.helpers import governed_workspace, register_and_promote


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = governed_workspace(tmp_path)
    yield workspace
    workspace.close()


@pytest.fixture
def bundle(ws: Workspace, tmp_path: Path) -> Path:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m", b"\x05" * 64))
    return create_bundle(ws, ref, tmp_path / "b", stage="production").path


def _resign(ws: Workspace, bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    body = json.loads((bundle / MANIFEST).read_bytes())
    change(body)
    raw = canonical_bytes(body)
    (bundle / MANIFEST).write_bytes(raw)
    key_id, private = KeyStore.for_home(ws.settings.home).signing_key()
    (bundle / SIGNATURE).write_bytes(sign(raw, key_id, private))


def _load(ws: Workspace, bundle: Path, out: Path) -> object:
    return load_bundle(
        bundle, public_keys=KeyStore.for_home(ws.settings.home).public_keys(), workdir=out
    )


def test_statements_say_who_approved_what_on_which_digest(
    ws: Workspace, bundle: Path, tmp_path: Path
) -> None:
    loaded = _load(ws, bundle, tmp_path / "out")
    manifest = loaded.manifest  # type: ignore[attr-defined]
    # Only the bundle and the trusted bundle key are needed.
    trusted = KeyStore.for_home(ws.settings.home).public_keys()
    said = {a.actor: a for a in verify(manifest, trusted)}
    assert set(said) == {"val", "risk"}
    assert said["val"].auth_method == "personal-key" and said["val"].signer == "personal key of val"
    assert said["risk"].auth_method == "token" and said["risk"].signer == "server key"
    assert {a.version_digest for a in said.values()} == {manifest["model"]["digest"]}


def _swap_digest(body: dict[str, Any]) -> None:
    body["model"]["digest"] = "sha256:" + "0" * 64


def _drop_statement(body: dict[str, Any]) -> None:
    body["attestations"]["statements"].pop()


def _edit_statement(body: dict[str, Any]) -> None:
    item = body["attestations"]["statements"][0]
    stmt = json.loads(item["statement"])
    stmt["comment"] = "approved without reading"
    item["statement"] = json.dumps(stmt, sort_keys=True, separators=(",", ":"))


def _strip_statements(body: dict[str, Any]) -> None:
    del body["attestations"]


def _claim_extra_approver(body: dict[str, Any]) -> None:
    body["approval"]["decisions"].append(
        {"actor": "ceo", "role": "risk_officer", "decision": "approve", "comment": "sure"}
    )


def _relabel_personal_key(body: dict[str, Any]) -> None:
    for entry in body["attestations"]["keys"].values():
        if entry["owner"] == "val":
            entry["owner"] = "risk"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_swap_digest, "not the bundled model's"),
        (_drop_statement, "signed statements say"),
        (_edit_statement, "does not match the statement"),
        (_strip_statements, "carries no signed approval statements"),
        (_claim_extra_approver, "signed statements say"),
        (_relabel_personal_key, "signed with the key of 'risk'"),
    ],
)
def test_rewritten_statements_are_refused(
    ws: Workspace,
    bundle: Path,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    _resign(ws, bundle, change)
    with pytest.raises(IntegrityError, match=message):
        _load(ws, bundle, tmp_path / "out")
    assert not (tmp_path / "out").exists()
