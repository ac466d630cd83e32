"""The kit's tiny model, promoted through the approval workflow and packaged as a signed bundle."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from lmops_core.deploy import KeyStore, create_bundle
from lmops_core.testing import Governed

POLICY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: serve-policy
    rules:
      - name: prod
        applies_to: {asset: model, transition: production}
        evidence:
          - {kind: eval, max_age: 30d}
        conditions:
          - name: accuracy
            expr: evidence.eval.metrics.acc >= 0.5
            message: accuracy below 0.5
        approvals:
          - {role: validator, count: 1}
          - {role: risk_officer, count: 1}
        separation_of_duties: true
""")


@dataclass(frozen=True)
class Packaged:
    """A bundle and what it took to make it."""

    bundle: Path
    home: Path
    keys: KeyStore
    request_id: str
    ref: str


def package(
    store: Governed,
    name: str,
    folder: Path,
    out: Path,
    *,
    kind: str = "base",
    guard: str | dict[str, str] | None = None,
) -> Packaged:
    """Register ``folder``, promote it to production (evidence, validator and risk officer)
    and package it as a bundle in ``out``, signed with the store's key (pinning ``guard``)."""
    eng = store.as_user("eng", "submitter")
    v = eng.register_model(name, folder, kind=kind)
    store.ws.as_actor("val").attach_evidence(
        v.ref, kind="eval", digest=v.digest, metrics={"acc": 0.9}
    )
    req = eng.governance.request_promotion(v.ref, to="production")
    store.as_user("val", "validator").governance.decide(
        req.id, approve=True, role="validator", comment="holdout ok"
    )
    store.as_user("risk", "risk_officer").governance.decide(
        req.id, approve=True, role="risk_officer", comment="risk accepted"
    )
    keys = KeyStore.for_home(store.ws.settings.home)  # its key attested the token decisions
    info = create_bundle(store.ws, v.ref, out, stage="production", keys=keys, guard=guard)
    return Packaged(
        bundle=info.path, home=store.ws.settings.home, keys=keys, request_id=req.id, ref=v.ref
    )


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Packaged]:
    """The kit's tiny model, packaged (see :func:`package`)."""
    root = tmp_path_factory.mktemp("serve")
    store = Governed.open(root / "home", entry_points=False, policies={"serve": POLICY})
    result = package(store, "tiny-chat", tiny_model, root / "bundle")
    store.close()
    yield result


@pytest.fixture
def package_model(
    make_workspace: Callable[..., Governed], tmp_path: Path
) -> Callable[..., Packaged]:
    """``package_model(folder, kind=..., plugins=[...])``: a bundle of ``folder`` made in a
    store of its own, with ``plugins`` loaded (the one whose runtime opens ``kind``)."""

    def make(folder: Path, *, kind: str, plugins: Sequence[str] = ()) -> Packaged:
        store = make_workspace(
            entry_points=False, plugins=list(plugins), policies={"serve": POLICY}
        )
        return package(store, f"tiny-{kind}", folder, tmp_path / "bundle", kind=kind)

    return make
