"""A third-party model kind: registered by its runtime, accepted by the registry, loaded by
operations, offered by the CLI; unknown kinds are still refused with the known ones listed.

This module is itself the plugin (loaded through ``LMOPS_PLUGINS``): it registers, with
the plugin kit's ``registers``, a runtime for the kind ``acme-echo`` and an evaluator that
opens its model through ``context.load_model``. Nothing in the core names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.contracts import (
    EvidenceKind,
    EvidenceRecord,
    Metric,
    NoParams,
    StageContext,
    StageResult,
)
from lmops_core.errors import ValidationError
from lmops_core.kit import registers
from lmops_core.runtimes import GenerationOptions, LoadedModel, ModelRuntime, generation_options
from lmops_core.settings import get_settings
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings

KIND = "acme-echo"
ECHO_REPLY = EvidenceKind(
    name="acme_echo",
    description="One reply of a model.",
    metrics=[
        Metric("reply_chars", "integer", "characters", headline=True),
        Metric("engine", "string"),
    ],
)


class EchoModel:
    """Replies with the prompt reversed, prefixed by what its folder's config says."""

    engine = "acme"
    tokenizer = None

    def __init__(self, folder: Path) -> None:
        self.prefix = (folder / "config.json").read_text(encoding="utf-8").strip()

    def generate(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> str:
        limit = generation_options(options, **legacy).max_new_tokens
        return f"{self.prefix}:{prompt[::-1]}"[:limit]

    def stream(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> Iterator[str]:
        yield self.generate(prompt, options, **legacy)


def open_echo(folder: Path, *, base: Path | None = None, threads: int | None = None) -> LoadedModel:
    """Open an ``acme-echo`` folder."""
    return EchoModel(folder)


class EchoCheck:
    """Asks the model under role "model" one question and records the reply's length."""

    name = "acme-echo-check"
    description = "Generate once with any model and record the reply length."
    params_model = NoParams
    input_roles = {"model": "model"}
    evidence_kinds = (ECHO_REPLY.name,)

    def run(self, context: StageContext) -> StageResult:
        model = context.load_model("model")
        reply = model.generate("hello", GenerationOptions(max_new_tokens=64))
        return StageResult(
            evidence=[
                EvidenceRecord(
                    kind=ECHO_REPLY.name,
                    subject="model",
                    metrics={"reply_chars": len(reply), "engine": model.engine},
                )
            ]
        )


#: The runtime of the kind, the check that uses it and what the check records.
register_model_runtimes = registers(
    ModelRuntime(kind=KIND, load=open_echo, engine="acme", description="echoes prompts backwards")
)
register_evaluators = registers(EchoCheck)
register_evidence_kinds = registers(ECHO_REPLY)


@pytest.fixture
def acme_ws(sqlite_home: Path) -> Iterator[Workspace]:
    """A workspace with this module loaded as a plugin (and no entry points)."""
    with Workspace.open(make_settings(sqlite_home, plugins=[__name__])) as ws:
        yield ws


def test_the_kind_is_known_after_the_core_kinds(acme_ws: Workspace) -> None:
    assert acme_ws.plugins.model_kinds() == ("base", "adapter", "merged", "full", KIND)


def test_a_version_of_the_kind_is_registered_and_loaded_by_an_operation(
    acme_ws: Workspace, tmp_path: Path
) -> None:
    folder = make_model_folder(tmp_path / "echo")
    version = acme_ws.register_model("echo", folder, kind=KIND)
    assert version.kind == KIND
    acme_ws.run_stage("evaluation", "acme-echo-check", inputs={"model": version.ref})
    [record] = acme_ws.evidence(version.ref, kind="acme_echo")
    # the runtime read the stored copy of config.json: '{"model_type": "test"}:olleh'
    assert record.metrics == {"reply_chars": len('{"model_type": "test"}:olleh'), "engine": "acme"}


def test_unknown_kinds_are_refused_listing_the_known_ones(
    acme_ws: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError) as caught:
        acme_ws.register_model("m", make_model_folder(tmp_path / "m"), kind="gguf")
    assert str(caught.value).startswith(
        "unknown model kind 'gguf' (expected one of base, adapter, merged, full, acme-echo)"
    )
    assert caught.value.details["field"] == "kind"


def test_without_the_plugin_the_kind_is_unknown(sqlite_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(
        ValidationError,
        match="unknown model kind 'acme-echo' "
        r"\(expected one of base, adapter, merged, full\)",
    ):
        sqlite_ws.register_model("m", make_model_folder(tmp_path / "m"), kind=KIND)


def test_the_cli_accepts_the_kind_and_lists_it_when_refusing(tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "echo")
    env = {
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_PLUGINS": __name__,
        "LMOPS_ACTOR": "alice",
    }

    def lmops(*args: str) -> tuple[int, str]:
        get_settings.cache_clear()  # each real call is a new process
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output

    code, out = lmops("models", "register", "echo", str(folder), "--kind", KIND, "--json")
    assert code == 0, out
    assert '"kind": "acme-echo"' in out
    code, out = lmops("models", "register", "echo", str(folder), "--kind", "gguf")
    assert code == 2, out
    assert "'gguf' is not one of" in out and "'acme-echo'." in out
    get_settings.cache_clear()
