"""Factories for policy-engine tests: policy files on disk and evaluation facts."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lmops_core.digests import digest_bytes
from lmops_core.policy import EvaluationFacts, EvidenceFacts

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DIGEST = digest_bytes(b"candidate model")
OTHER_DIGEST = digest_bytes(b"some other model")
PROD_DIGEST = digest_bytes(b"model in production")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write dedented YAML to ``tmp_path/<name>`` and return its path."""

    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


class Factories:
    """Test data builders, handed to tests through the ``pf`` fixture."""

    now = NOW
    digest = DIGEST
    other_digest = OTHER_DIGEST
    prod_digest = PROD_DIGEST
    repo_root = REPO_ROOT

    @staticmethod
    def evidence(kind: str, metrics: dict[str, Any], **overrides: Any) -> EvidenceFacts:
        """An evidence record about the candidate, one day old, unless overridden."""
        fields: dict[str, Any] = {
            "kind": kind,
            "subject_digest": DIGEST,
            "metrics": metrics,
            "created_at": NOW - timedelta(days=1),
            "stage": "evaluation",
            "plugin": "lmops-test",
            "actor": "validator-vic",
        }
        fields.update(overrides)
        return EvidenceFacts(**fields)

    @staticmethod
    def facts(
        records: list[EvidenceFacts],
        *,
        transition: str = "production",
        risk_tier: str = "standard",
        asset_type: str = "model",
        production: dict[str, Any] | None = None,
        **version: Any,
    ) -> EvaluationFacts:
        """Facts for the candidate version moving to ``transition``."""
        return EvaluationFacts.model_validate(
            {
                "version": {
                    "ref": "acme-chat@2",
                    "digest": DIGEST,
                    "asset_type": asset_type,
                    "risk_tier": risk_tier,
                    "created_by": "author-ann",
                    **version,
                },
                "transition": transition,
                "requester": "requester-rob",
                "evidence": records,
                "production": production,
            }
        )

    @staticmethod
    def production_version(acc: float) -> dict[str, Any]:
        """The version now in production, with its own eval evidence."""
        return {
            "ref": "acme-chat@1",
            "digest": PROD_DIGEST,
            "asset_type": "model",
            "risk_tier": "standard",
            "evidence": [
                Factories.evidence("eval", {"acc": acc}, subject_digest=PROD_DIGEST).model_dump(),
            ],
        }


@pytest.fixture
def pf() -> type[Factories]:
    """The test data builders."""
    return Factories
