"""lmops-serve is listed by `lmops plugins`, and the core serves a bundle through its target.

lmops-serve offers no stage operation: what the core runs is its serving target,
found through the plugin host as the pipeline's ``serve`` step finds it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lmops_core.deploy import KeyStore
from lmops_core.errors import IntegrityError, StageError
from lmops_core.plugins import PluginHost
from lmops_core.testing import listed_plugins, read_jsonl


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    listed = listed_plugins(tmp_path / "home")["lmops-serve"]
    assert (listed["operations"], listed["serving_targets"]) == ([], ["in-process", "local"])
    assert listed["guard_configs"] == ["GuardConfig"]


@pytest.mark.parametrize("name", ["local", "in-process"])
def test_the_core_serves_a_bundle_through_the_target(
    lmops_plugins: PluginHost, packaged: Any, tmp_path: Path, name: str
) -> None:
    target = lmops_plugins.serving_target(name)
    served = target.start(
        packaged.bundle, home=packaged.home, guard_mode="off", log_path=tmp_path / "inference.jsonl"
    )
    try:
        while served.health() is None:  # raises once the server process has exited
            time.sleep(0.2)  # a polling interval, not a wait that must be long enough
        reply = served.generate("Hello", max_new_tokens=3)
    finally:
        served.stop()
    assert isinstance(reply, str)
    [logged] = read_jsonl(tmp_path / "inference.jsonl")  # the log is redacted, always
    assert logged["prompt"] == "Hello" and "response" in logged
    served.stop()  # a second stop does nothing
    with pytest.raises(StageError, match="stopped|exited"):
        served.health()


@pytest.mark.parametrize(
    ("own_key", "refusal"),
    [
        # A home holding no trusted key: refused before anything is served (never the keys
        # of this process's own home instead).
        (False, "no trusted public key under"),
        # A home trusting another key: the signature check refuses the bundle.
        (True, "not among the trusted public keys"),
    ],
)
def test_the_in_process_target_refuses_a_bundle_that_does_not_verify(
    lmops_plugins: PluginHost, packaged: Any, tmp_path: Path, own_key: bool, refusal: str
) -> None:
    if own_key:
        KeyStore.for_home(tmp_path / "home").create()
    with pytest.raises(IntegrityError, match=refusal):
        lmops_plugins.serving_target("in-process").start(
            packaged.bundle,
            home=tmp_path / "home",
            guard_mode="off",
            log_path=tmp_path / "inference.jsonl",
        )
    assert not (tmp_path / "inference.jsonl").exists()
