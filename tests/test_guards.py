"""Guard configurations as registry assets, checked by the plugin registered for their kind.

The plugin here is a third party's (``register_guard_configs``): the core knows no guard
format of its own, so a kind no plugin registers is refused, and an operation runs a guard
version through the same plugin (``context.guard_pipeline``).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core import Workspace
from lmops_core.errors import PluginError, ValidationError
from tests.conftest import make_model_folder, make_settings, write_plugin

TOY = textwrap.dedent("""
    import json
    from lmops_core import hookimpl, StageResult, EvidenceRecord
    from lmops_core.digests import digest_bytes
    from lmops_core.runtimes import GuardConfigType, GuardIdentity, GuardedAnswer
    from tests.plugin_steps import Step

    def check(document, source):
        if "words" not in document:
            from lmops_core.errors import ValidationError
            raise ValidationError(f"{source}: words: required", field="words")
        meaning = {"name": document["name"], "words": sorted(document["words"])}
        digest = digest_bytes(json.dumps(meaning).encode())
        return GuardIdentity(document.get("kind", "GuardConfig"), document["name"], digest)

    class Pipeline:
        def __init__(self, words):
            self.words = words
        def answer(self, prompt, generate):
            if any(w in prompt for w in self.words):
                return GuardedAnswer("no", refused=True)
            return GuardedAnswer(generate(prompt))

    def pipeline(path, guards):
        import yaml
        return Pipeline(yaml.safe_load(path.read_text())["words"])

    def probe(context):
        checks = context.guard_pipeline("guard")
        answers = [checks.answer(p, str.upper) for p in ("hello", "say secret")]
        metrics = {"refused": sum(a.refused for a in answers)}
        details = {"texts": [a.text for a in answers]}
        return StageResult(
            evidence=[EvidenceRecord("note", "guard", metrics, details, paired="model")]
        )

    @hookimpl
    def register_guard_configs(register):
        register(GuardConfigType(kind="ToyGuard", check=check, pipeline=pipeline))
        register(GuardConfigType(kind="GuardConfig", check=check, pipeline=pipeline))

    @hookimpl
    def register_evaluators(register):
        register(Step("toy-probe", "runs two prompts through a guard", probe))
""")
TWIN = textwrap.dedent("""
    from lmops_core import hookimpl
    from lmops_core.runtimes import GuardConfigType

    @hookimpl
    def register_guard_configs(register):
        register(GuardConfigType(kind="ToyGuard", check=print, pipeline=print))
""")


@pytest.fixture
def ws(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    plugins = [write_plugin(tmp_path, TOY, "toy_guard.py")]
    with Workspace.open(make_settings(tmp_path / "home", db_url, plugins=plugins)) as workspace:
        yield workspace


def _file(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_guard_version_has_the_digest_its_plugin_names_and_keeps_its_file(
    ws: Workspace, tmp_path: Path
) -> None:
    path = _file(tmp_path, "kind: ToyGuard\nname: shop\nwords: [secret, card]\n", "one.yaml")
    first = ws.register_guard("shop", path, risk_tier="high")
    assert (first.ref, first.config_kind, first.config_name) == ("guard:shop@1", "ToyGuard", "shop")
    assert first.risk_tier == "high" and first.size_bytes == path.stat().st_size
    # Same meaning, other layout: same digest (a new version all the same, with lineage).
    relaid = _file(
        tmp_path, "# reordered\nname: shop\nkind: ToyGuard\nwords: [card, secret]\n", "two.yaml"
    )
    second = ws.register_guard("shop", relaid)
    assert second.digest == first.digest and second.file_digest != first.file_digest
    assert [(e.child, e.parent, e.relation) for e in ws.lineage(second.ref)] == [
        (second.ref, first.ref, "revises")
    ]
    wider = ws.register_guard("shop", _file(tmp_path, "kind: ToyGuard\nname: shop\nwords: []\n"))
    assert wider.digest != first.digest
    assert [a.name for a in ws.list_assets("guard")] == ["shop"]
    # The stored file outlives a garbage collection and exports as it was registered.
    ws.gc(older_than_seconds=0)
    assert ws.export(first.ref, tmp_path / "out.yaml").read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("kind: OtherGuard\nname: x\n", PluginError, 'of kind "OtherGuard" \\(kinds: GuardConfig'),
        ("kind: ToyGuard\nname: x\n", ValidationError, "g.yaml: words: required"),
        ("- a list\n", ValidationError, "g.yaml: a guard configuration is a YAML mapping"),
        ("name: [x\n", ValidationError, "g.yaml: not a UTF-8 YAML document"),
        ("kind: 7\nname: x\n", ValidationError, "g.yaml: kind: a non-empty string"),
    ],
)
def test_a_bad_or_unknown_document_is_refused_naming_the_file(
    ws: Workspace, tmp_path: Path, text: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        ws.register_guard("x", _file(tmp_path, text))
    assert ws.list_assets("guard") == []


def test_two_plugins_cannot_register_one_kind(tmp_path: Path, sqlite_home: Path) -> None:
    plugins = [write_plugin(tmp_path, TOY, "toy_a.py"), write_plugin(tmp_path, TWIN, "toy_b.py")]
    with (
        Workspace.open(make_settings(sqlite_home, plugins=plugins)) as ws,
        pytest.raises(
            PluginError, match='both register a guard configuration kind for kind "ToyGuard"'
        ),
    ):
        ws.register_guard("x", _file(tmp_path, "kind: ToyGuard\nname: x\nwords: []\n"))


def test_an_operation_runs_a_guard_version_through_its_plugin(
    ws: Workspace, tmp_path: Path
) -> None:
    model = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    guard = ws.register_guard(
        "shop", _file(tmp_path, "kind: ToyGuard\nname: shop\nwords: [secret]\n")
    )
    ws.run_stage("evaluation", "toy-probe", inputs={"guard": guard.ref, "model": model})
    [note] = ws.evidence(guard.ref, kind="note")
    assert note.paired == model and note.subject_digest == guard.digest
    assert note.metrics == {"refused": 1} and note.details["texts"] == ["HELLO", "no"]
    with pytest.raises(
        ValidationError, match='input "guard" \\(model:m@1\\) must be a guard version'
    ):
        ws.run_stage("evaluation", "toy-probe", inputs={"guard": model, "model": model})
