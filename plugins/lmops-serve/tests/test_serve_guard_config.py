"""The guard configuration as one document with a digest, reported by the service it governs."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lmops_serve.app import create_app
from lmops_serve.guard_config import GuardSpec, load_guard_spec

from lmops_core.errors import PolicyViolationError, ValidationError
from lmops_core.testing import Governed

from .conftest import POLICY, package

BLOCKING = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: GuardConfig
    name: strict-retail
    pii:
      mode: block
      options: {patterns_only: true}
    refusals:
      categories: [weapons]
    output:
      segment_chars: 32
""")


def _write(tmp_path: Path, text: str, name: str = "guard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_digest_follows_the_meaning_not_the_layout(tmp_path: Path) -> None:
    spec = load_guard_spec(_write(tmp_path, BLOCKING))
    relaid = "# reviewed by risk\n" + BLOCKING.replace(
        "{patterns_only: true}", "\n    patterns_only: true"
    )
    assert load_guard_spec(_write(tmp_path, relaid, "b.yaml")).digest == spec.digest
    looser = BLOCKING.replace("mode: block", "mode: redact")
    assert load_guard_spec(_write(tmp_path, looser, "c.yaml")).digest != spec.digest
    assert spec.digest.startswith("sha256:") and spec.identity()["name"] == "strict-retail"
    # Defaults are part of the content: spelling one out changes nothing.
    assert GuardSpec.inline("redact").digest == GuardSpec.inline("redact", None, {}).digest


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("mode: block", "mode: drop"), r"guard.yaml: pii.mode: "),
        (("segment_chars: 32", "segment_chars: 2"), r"guard.yaml: output.segment_chars: "),
        (("kind: GuardConfig", "kind: Guard"), r"guard.yaml: kind: "),
        (("output:", "outputs:"), r"guard.yaml: outputs: Extra inputs are not permitted"),
        (("[weapons]", "[weapons, gossip]"), r"refusals.categories: unknown \['gossip'\]"),
        (("name: strict-retail", "name: [strict"), r"guard.yaml: not valid YAML"),
    ],
)
def test_a_bad_file_names_itself_and_the_field(
    tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        load_guard_spec(_write(tmp_path, BLOCKING.replace(*change)))


def test_the_service_runs_the_file_and_reports_its_digest_everywhere(
    packaged,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, BLOCKING)
    log = tmp_path / "log.jsonl"
    app = create_app(
        packaged.bundle, public_keys=packaged.keys.public_keys(), log_path=log, guard_config=path
    )
    client = TestClient(app)
    identity = {"name": "strict-retail", "digest": load_guard_spec(path).digest}
    assert client.get("/version").json()["guard"] == identity
    assert client.get("/health").json()["guard"] == identity
    # The file's block mode is the one applied.
    blocked = client.post(
        "/v1/generate", json={"prompt": "mail ann@example.com", "max_new_tokens": 2}
    )
    assert blocked.status_code == 422 and blocked.json()["error"]["code"] == "pii_blocked"
    client.post(
        "/v1/generate/stream", json={"prompt": "Tell me about rivers.", "max_new_tokens": 4}
    )
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    assert all((r["guard_name"], r["guard_digest"]) == tuple(identity.values()) for r in rows)


def test_without_a_file_the_inline_configuration_is_reported(
    packaged,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    with pytest.raises(ValidationError, match="either a guard configuration or guard_mode"):
        create_app(
            packaged.bundle,
            public_keys=packaged.keys.public_keys(),
            guard_mode="off",
            guard_config=_write(tmp_path, BLOCKING),
        )
    app = create_app(
        packaged.bundle,
        public_keys=packaged.keys.public_keys(),
        guard_mode="block",
        refuse_categories=["drugs"],
    )
    reported = TestClient(app).get("/version").json()["guard"]
    assert reported == GuardSpec.inline("block", ["drugs"]).identity()
    assert reported["name"] == "inline"
    assert reported["digest"] != GuardSpec.inline("redact", ["drugs"]).digest


def test_a_bundle_pinning_a_guard_is_served_behind_that_one_only(
    tmp_path: Path,
    tiny_model: Path,
) -> None:
    path = _write(tmp_path, BLOCKING)
    spec = load_guard_spec(path)
    store = Governed.open(tmp_path / "home", entry_points=False, policies={"serve": POLICY})
    try:
        pinned = package(store, "pinned", tiny_model, tmp_path / "bundle", guard=spec.identity())
    finally:
        store.close()
    keys = pinned.keys.public_keys()
    app = create_app(pinned.bundle, public_keys=keys, guard_config=path)
    assert TestClient(app).get("/version").json()["guard"] == spec.identity()
    looser = _write(tmp_path, BLOCKING.replace("mode: block", "mode: redact"), "looser.yaml")
    with pytest.raises(PolicyViolationError, match=rf"pins guard strict-retail \({spec.digest}\)"):
        create_app(pinned.bundle, public_keys=keys, guard_config=looser)
    with pytest.raises(PolicyViolationError, match="this service was given inline"):
        create_app(pinned.bundle, public_keys=keys)
