"""``on_breach: [{retrain: {pipeline: FILE}}]``: validated, and carried into the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.errors import PolicyError
from lmops_core.policy import load_policy
from tests.conftest import drift_watch_rule, policy_yaml


def _policy(tmp_path: Path, retrain: dict[str, object]) -> Path:
    path = tmp_path / "watch.yaml"
    path.write_text(policy_yaml("watch", drift_watch_rule(["alert", {"retrain": retrain}])))
    return path


def test_the_pipeline_file_is_resolved_next_to_the_policy(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "retrain.yaml").write_text("steps: []\n")
    policy = load_policy(
        _policy(tmp_path, {"pipeline": "pipelines/retrain.yaml", "cooldown": "2h"})
    )
    settings = policy.document.rules[0].retrain
    assert settings is not None and settings.pipeline == "pipelines/retrain.yaml"
    assert settings.cooldown.total_seconds() == 7200 and settings.budget.count == 3


@pytest.mark.parametrize(
    ("retrain", "message"),
    [
        ({"pipeline": "missing.yaml"}, "on_breach[1].retrain.pipeline: 'missing.yaml': no such"),
        ({"pipeline": "../outside.yaml"}, "inside the policy file's folder"),
        ({"pipeline": "p.yaml", "cooldwn": "1d"}, "unknown key 'cooldwn' at rules[0].on_breach[1]"),
        ({"pipeline": "p.yaml", "budget": {"count": 0}}, "retrain.budget.count"),
    ],
)
def test_a_bad_retrain_item_names_the_file_and_the_field(
    tmp_path: Path, retrain: dict[str, object], message: str
) -> None:
    (tmp_path / "p.yaml").write_text("steps: []\n")
    (tmp_path.parent / "outside.yaml").write_text("steps: []\n")
    with pytest.raises(PolicyError) as info:
        load_policy(_policy(tmp_path, retrain))
    assert "watch.yaml:" in str(info.value) and message in str(info.value)
