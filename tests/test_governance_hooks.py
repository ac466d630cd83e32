"""The governance hooks: plugins veto promotions and observe decisions."""

from __future__ import annotations

import pluggy

from lmops_core import hookspecs
from lmops_core.contracts import DecisionEvent, PromotionContext


class _Governance:
    """A plugin implementing the governance hooks the approval workflow calls."""

    def __init__(self) -> None:
        self.decisions: list[DecisionEvent] = []

    @hookspecs.hookimpl
    def lmops_before_promotion(self, promotion: PromotionContext) -> str | None:
        if promotion.evidence.get("eval", {}).get("acc", 0) < 0.5:
            return "accuracy below the plugin's own floor"
        return None

    @hookspecs.hookimpl
    def lmops_after_decision(self, decision: DecisionEvent) -> None:
        self.decisions.append(decision)


def test_governance_hooks_collect_vetoes_and_decisions() -> None:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(hookspecs)
    plugin = _Governance()
    pm.register(plugin)
    pm.check_pending()
    low = PromotionContext(
        request_id="r1",
        asset_type="model",
        ref="model:m@1",
        version_digest="sha256:" + "0" * 64,
        target_stage="production",
        requested_by="bob",
        evidence={"eval": {"acc": 0.3}},
    )
    assert pm.hook.lmops_before_promotion(promotion=low) == [
        "accuracy below the plugin's own floor"
    ]
    high = PromotionContext(**{**low.__dict__, "evidence": {"eval": {"acc": 0.9}}})
    assert pm.hook.lmops_before_promotion(promotion=high) == []
    event = DecisionEvent(
        request_id="r1",
        ref="model:m@1",
        target_stage="production",
        decision="approved",
        actor="carol",
        comment="ok",
    )
    pm.hook.lmops_after_decision(decision=event)
    assert plugin.decisions == [event]
