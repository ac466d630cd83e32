"""A store holding model versions with (or without) the evidence the Chinese pack reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lmops_core.compliance import CompliancePack, load_pack
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings

REPO = Path(__file__).resolve().parents[2]
CN_PACK = REPO / "policies" / "packs" / "cn-tc260-003.yaml"

#: Evidence meeting every threshold of the Chinese pack, by kind.
PASSING: dict[str, dict[str, Any]] = {
    "corpus_sample": {"sample_size": 4000, "acceptable_rate": 0.97},
    "content_sample": {"bank_size": 2400, "sample_size": 1000, "acceptable_rate": 0.93},
    "refusal_sample": {
        "must_refuse_bank": 520,
        "must_refuse_sampled": 300,
        "must_refuse_rate": 0.96,
        "must_not_refuse_bank": 510,
        "must_not_refuse_sampled": 300,
        "must_not_refuse_rate": 0.02,
    },
    "keyword_library": {"entries": 10240},
}


@pytest.fixture
def cn_pack() -> CompliancePack:
    """The shipped Chinese pack, loaded (and so linted) from the repository."""
    return load_pack(CN_PACK)


@pytest.fixture
def store(tmp_path: Path, sqlite_home: Path) -> Iterator[Workspace]:
    """An empty SQLite store with no policy folder of its own."""
    ws = Workspace.open(make_settings(sqlite_home, policies_dir=tmp_path / "none"))
    yield ws
    ws.close()


def model_with(
    ws: Workspace,
    tmp: Path,
    evidence: dict[str, dict[str, Any]],
    n: int,
    author: Workspace | None = None,
) -> str:
    """Register model version ``n`` (as ``author``, else ``ws``'s actor) and attach
    ``evidence`` (kind -> metrics) to it."""
    folder = make_model_folder(tmp / f"model{n}", bytes([n]) * 64)
    version = (author or ws).register_model("chat", folder)
    for kind, metrics in evidence.items():
        ws.as_actor("assessor").attach_evidence(
            version.ref, kind=kind, digest=version.digest, metrics=metrics
        )
    return version.ref
