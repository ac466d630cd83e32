"""Shared by the governance tests: a production policy that guards against regressions, and a
store governed by it with its people in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.workspace import Workspace
from tests.conftest import policy_ws, prod_policy, staffed

POLICY = prod_policy(
    "test-policy",
    conditions=(
        '{name: no-regression, expr: "!has(production.evidence) || evidence.eval.metrics.acc >= '
        'production.evidence.eval.metrics.acc - 0.01", message: regression against production}',
    ),
    more=("request_ttl: 7d",),
)


@pytest.fixture
def gov_ws(tmp_path: Path, db_url: str) -> Workspace:
    return staffed(
        policy_ws(tmp_path, POLICY, db_url, file="test.yaml", actor="root"), ("val2", "validator")
    )
