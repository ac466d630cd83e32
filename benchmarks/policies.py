"""The governance policy the benchmarks promote models under, written once."""

from __future__ import annotations

from typing import Any

import yaml


def production_policy(**rule: Any) -> str:
    """Policy YAML with one rule, ``prod``, for a model's promotion to production.

    The rule asks for one validator and one risk officer, neither of them the requester
    (separation of duties); ``rule`` adds fields to it or replaces them (``evidence``,
    ``conditions``, ``request_ttl``...).
    """
    body: dict[str, Any] = {
        "name": "prod",
        "applies_to": {"asset": "model", "transition": "production"},
        "approvals": [{"role": "validator", "count": 1}, {"role": "risk_officer", "count": 1}],
        "separation_of_duties": True,
        **rule,
    }
    policy = {"apiVersion": "lmops/v1", "kind": "Policy", "name": "bench", "rules": [body]}
    return yaml.safe_dump(policy, sort_keys=False)
