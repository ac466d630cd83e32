"""Model runtimes, guards and serving targets: one test per promise of their hook specs.

The plugins here are plain objects of ``@hookimpl`` methods registered on a real
plugin manager, exactly as a third-party plugin would be; nothing is mocked.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from lmops_core import hookimpl
from lmops_core.contracts import InputAsset, Register, Stage, StageContext
from lmops_core.errors import PluginError, StageError, ValidationError
from lmops_core.pipelines import PipelineRunner, load_pipeline
from lmops_core.plugins import PluginHost, PluginLoadFailure, load_plugins
from lmops_core.runtimes import (
    GenerationOptions,
    Guard,
    LoadedModel,
    ModelRuntime,
    TextGuard,
    generation_options,
)
from lmops_core.testing import dataset_input, model_input
from lmops_core.workspace import Workspace
from tests.conftest import make_settings

REPO = Path(__file__).resolve().parents[2]


class EchoModel:
    """A 'model' that answers with its prompt reversed; a LoadedModel with no ML library."""

    engine = "echo"
    tokenizer = None

    def __init__(self, folder: Path, base: Path | None, threads: int | None) -> None:
        self.folder, self.base, self.threads = folder, base, threads

    def generate(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> str:
        return "".join(self.stream(prompt, options, **legacy))

    def stream(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> Iterator[str]:
        yield from prompt[::-1][: generation_options(options, **legacy).max_new_tokens]


@dataclass(eq=False)  # two instances are two plugins
class EchoRuntimes:
    """A third-party plugin offering the kinds "echo" and "echo-adapter" (needs a base)."""

    loaded: list[EchoModel] = field(default_factory=list)

    def load(
        self, folder: Path, *, base: Path | None = None, threads: int | None = None
    ) -> LoadedModel:
        model = EchoModel(folder, base, threads)
        self.loaded.append(model)
        return model

    @hookimpl
    def register_model_runtimes(self, register: Register) -> None:
        register(ModelRuntime(kind="echo", load=self.load, engine="echo"))
        register(ModelRuntime(kind="echo-adapter", load=self.load, engine="echo", needs_base=True))


@dataclass(frozen=True)
class Hit:
    entity_type: str
    start: int
    end: int
    score: float = 1.0


@dataclass(frozen=True)
class Scrubbed:
    text: str
    counts: dict[str, int]


class SecretGuard:
    """Finds one configured word; a TextGuard."""

    def __init__(self, word: str) -> None:
        self.word = word

    def scan(self, text: str) -> Sequence[Hit]:
        at = text.find(self.word)
        return [Hit("SECRET", at, at + len(self.word))] if at >= 0 else []

    def scan_batch(self, texts: Sequence[str]) -> Sequence[Sequence[Hit]]:
        return [self.scan(t) for t in texts]

    def redact(self, text: str) -> Scrubbed:
        n = text.count(self.word)
        return Scrubbed(text.replace(self.word, "<SECRET>"), {"SECRET": n} if n else {})

    def redact_batch(self, texts: Sequence[str]) -> Sequence[Scrubbed]:
        return [self.redact(t) for t in texts]

    def describe(self) -> Mapping[str, Any]:
        return {"word_length": len(self.word)}


class SecretGuards:
    """A third-party plugin offering the guard "secret" (option ``word``)."""

    @hookimpl
    def register_guards(self, register: Register) -> None:
        register(Guard(name="secret", factory=lambda word="hunter2": SecretGuard(word)))


def _host(tmp_path: Path, *plugins: object) -> PluginHost:
    host = load_plugins(make_settings(tmp_path / "home"), registrations=False)
    for n, plugin in enumerate(plugins):
        host.pm.register(plugin, name=f"third-party-{n}")
    return host


def _context(host: PluginHost, tmp_path: Path, **inputs: InputAsset) -> StageContext:
    return StageContext(
        stage=Stage.EVALUATION,
        operation="probe",
        inputs=inputs,
        params={},
        workdir=tmp_path / "work",
        actor="tester",
        run_id="r1",
        plugins=host,
    )


# -- register_model_runtimes -------------------------------------------------------------


def test_a_third_party_runtime_is_used_by_load_model(tmp_path: Path) -> None:
    plugin = EchoRuntimes()
    host = _host(tmp_path, plugin)
    assert host.model_runtimes["echo"].plugin == "third-party-0"
    ctx = _context(host, tmp_path, model=model_input(tmp_path / "m", "echo"))
    model = ctx.load_model("model", threads=2)
    assert model.generate("abc") == "cba" and "".join(model.stream("abc")) == "cba"
    assert plugin.loaded[0].folder == tmp_path / "m" and plugin.loaded[0].threads == 2
    assert plugin.loaded[0].base is None
    assert model.generate("abcdef", GenerationOptions(max_new_tokens=2)) == "fe"


def test_generation_options_also_come_the_older_way() -> None:
    sampled = GenerationOptions(max_new_tokens=5, do_sample=True, top_k=3, seed=7)
    assert generation_options() == GenerationOptions()
    assert generation_options(sampled) is sampled
    assert generation_options(5, do_sample=True, top_k=3, seed=7) == sampled
    assert generation_options(sampled, seed=8) == replace(sampled, seed=8)
    assert generation_options(max_new_tokens=5).max_new_tokens == 5
    with pytest.raises(TypeError, match="nucleus"):
        generation_options(nucleus=0.9)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": True}, "max_new_tokens"),
        ({"do_sample": True, "temperature": 0.0}, "temperature"),
        ({"top_k": -1}, "top_k"),
    ],
)
def test_bad_generation_options_are_named(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named) as caught:
        GenerationOptions(**fields)
    assert caught.value.details == {"field": named}
    with pytest.raises(ValidationError, match="options must be GenerationOptions"):
        generation_options("fast")  # type: ignore[arg-type]


def test_unknown_kind_is_an_error_naming_the_kind(tmp_path: Path) -> None:
    host = _host(tmp_path, EchoRuntimes())
    ctx = _context(host, tmp_path, model=model_input(tmp_path / "m", "gguf"))
    assert ctx.find_model_runtime("gguf") is None and ctx.find_model_runtime("echo") is not None
    with pytest.raises(
        PluginError,
        match=r'no model runtime for model kind "gguf" \(runtimes '
        r"for: echo, echo-adapter\)",
    ):
        ctx.load_model("model")


def test_a_kind_that_needs_its_base_gets_the_base_input(tmp_path: Path) -> None:
    plugin = EchoRuntimes()
    host = _host(tmp_path, plugin)
    ctx = _context(
        host,
        tmp_path,
        model=model_input(tmp_path / "a", "echo-adapter"),
        base=model_input(tmp_path / "b", "echo", "base"),
    )
    ctx.load_model("model")
    assert plugin.loaded[0].base == tmp_path / "b"
    alone = _context(host, tmp_path, model=model_input(tmp_path / "a", "echo-adapter"))
    with pytest.raises(StageError, match='needs an input for role "base"'):
        alone.load_model("model")


def test_a_missing_capability_is_refused_before_loading(tmp_path: Path) -> None:
    plugin = EchoRuntimes()
    ctx = _context(_host(tmp_path, plugin), tmp_path, model=model_input(tmp_path / "m", "echo"))
    with pytest.raises(PluginError, match=r'model kind "echo" \(echo\) cannot score'):
        ctx.load_model("model", needs=("generate", "score"))
    assert plugin.loaded == []


def test_a_loader_returning_something_else_is_named(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def register_model_runtimes(self, register: Register) -> None:
            register(ModelRuntime(kind="odd", load=lambda folder, **_: object(), engine="x"))

    ctx = _context(_host(tmp_path, Broken()), tmp_path, model=model_input(tmp_path / "m", "odd"))
    with pytest.raises(
        PluginError,
        match='runtime for model kind "odd" returned object, which is not a LoadedModel',
    ):
        ctx.load_model("model")


def test_one_kind_has_one_runtime_across_plugins(tmp_path: Path) -> None:
    host = _host(tmp_path, EchoRuntimes(), EchoRuntimes())
    with pytest.raises(
        PluginError,
        match=r'plugins "third-party-\d" and "third-party-\d" both '
        'register a model runtime for kind "echo"',
    ):
        host.model_runtimes  # noqa: B018 - registrations are collected on first read


def test_load_model_needs_a_model_version_with_a_path(tmp_path: Path) -> None:
    no_path = replace(model_input(tmp_path, "echo"), path=None)
    ctx = _context(_host(tmp_path, EchoRuntimes()), tmp_path, model=no_path)
    with pytest.raises(ValidationError, match='input "model" has no local path'):
        ctx.load_model("model")


def test_registering_the_first_party_runtimes_imports_no_ml_library() -> None:
    code = (
        "import sys\nfrom lmops_core.plugins import default_host\n"
        "host = default_host()\nkinds = sorted(host.model_runtimes)\n"
        "assert {'base', 'adapter', 'onnx', 'onnx-int8'} <= set(kinds), kinds\n"
        "assert 'pii' in host.guards and 'local' in host.serving_targets\n"
        "heavy = [m for m in ('torch', 'transformers', 'onnxruntime', 'presidio_analyzer')"
        " if m in sys.modules]\nassert not heavy, heavy\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-2000:]


# -- register_guards ---------------------------------------------------------------------


def test_a_third_party_guard_is_built_with_its_options(tmp_path: Path) -> None:
    ctx = _context(_host(tmp_path, SecretGuards()), tmp_path)
    guard = ctx.guard("secret", word="opensesame")
    assert isinstance(guard, TextGuard)
    assert guard.redact("say opensesame").text == "say <SECRET>"
    assert [h.entity_type for h in guard.scan("opensesame")] == ["SECRET"]


def test_an_absent_guard_is_none_or_an_error_naming_it(tmp_path: Path) -> None:
    ctx = _context(_host(tmp_path), tmp_path)
    assert ctx.find_guard("secret") is None
    with pytest.raises(PluginError, match='needs the guard "secret", which no installed plugin'):
        ctx.guard("secret")


def test_a_failed_plugin_makes_an_absent_guard_an_error(tmp_path: Path) -> None:
    host = _host(tmp_path)
    host.failures.append(PluginLoadFailure("lmops-presidio", "No module named 'presidio'"))
    with pytest.raises(
        PluginError,
        match='no guard named "pii" is available; plugins that '
        'failed to load: Error loading plugin "lmops-presidio"',
    ):
        _context(host, tmp_path).find_guard("pii")


def test_a_factory_must_build_a_text_guard(tmp_path: Path) -> None:
    class Broken:
        @hookimpl
        def register_guards(self, register: Register) -> None:
            register(Guard(name="bad", factory=lambda: "not a guard"))

    with pytest.raises(PluginError, match='guard "bad": factory returned str'):
        _context(_host(tmp_path, Broken()), tmp_path).guard("bad")


def test_guard_names_are_unique_across_plugins(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match='both register a guard for name "secret"'):
        _host(tmp_path, SecretGuards(), SecretGuards()).guards  # noqa: B018


# -- register_serving_targets ------------------------------------------------------------


@dataclass
class FakeService:
    """A served bundle answering in process; becomes healthy on the second poll."""

    bundle: Path
    guard_mode: str
    polls: int = 0
    stopped: int = 0
    url: str = ""

    def health(self) -> Mapping[str, Any] | None:
        self.polls += 1
        return {"status": "ok"} if self.polls > 1 else None

    def generate(self, prompt: str, *, max_new_tokens: int) -> str:
        if prompt == "explode":
            raise StageError("the service refused")
        return f"{self.guard_mode}:{prompt[:max_new_tokens]}"

    def stop(self) -> None:
        self.stopped += 1


@dataclass(eq=False)
class InProcessTarget:
    """A third-party serving target named "in-process"."""

    started: list[FakeService] = field(default_factory=list)
    name: str = "in-process"
    description: str = "serves in this process"

    def start(self, bundle: Path, *, home: Path, guard_mode: str, log_path: Path) -> FakeService:
        service = FakeService(bundle, guard_mode)
        self.started.append(service)
        return service

    @hookimpl
    def register_serving_targets(self, register: Register) -> None:
        register(self)


SERVE = """
apiVersion: lmops/v1
kind: Pipeline
name: serve
steps:
  - id: serve
    serve: {bundle: bundle, target: TARGET, prompts: PROMPTS, max_new_tokens: 3,
            guard_mode: block, timeout_s: 30}
"""


def _serve(tmp_path: Path, target: str | None, prompts: str, *plugins: object) -> Any:
    (tmp_path / "bundle").mkdir(exist_ok=True)
    path = tmp_path / "serve.yaml"
    body = (
        SERVE.replace("target: TARGET, ", "") if target is None else SERVE.replace("TARGET", target)
    )
    path.write_text(body.replace("PROMPTS", prompts))
    with Workspace.open(make_settings(tmp_path / "home")) as ws:
        for n, plugin in enumerate(plugins):
            ws.plugins.pm.register(plugin, name=f"third-party-{n}")
        return PipelineRunner(ws, load_pipeline(path), base_dir=tmp_path).run()


def test_a_serve_step_uses_the_named_target_and_stops_it(tmp_path: Path) -> None:
    target = InProcessTarget()
    results = _serve(tmp_path, "in-process", "[hello, bye]", target)
    [service] = target.started
    assert service.bundle == tmp_path / "bundle" and service.polls == 2 and service.stopped == 1
    assert results["serve"].outputs["replies"] == ["block:hel", "block:bye"]


def test_a_failing_service_is_still_stopped(tmp_path: Path) -> None:
    target = InProcessTarget()
    with pytest.raises(StageError, match="the service refused"):
        _serve(tmp_path, "in-process", "[explode]", target)
    assert target.started[0].stopped == 1


def test_a_serve_step_without_a_target_uses_local(tmp_path: Path) -> None:
    target = InProcessTarget(name="local")
    results = _serve(tmp_path, None, "[hi]", target)
    assert "target" not in (tmp_path / "serve.yaml").read_text()
    assert results["serve"].outputs["replies"] == ["block:hi"] and len(target.started) == 1


def test_serving_target_names_are_unique_across_plugins(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match='both register a serving target for name "in-process"'):
        _host(tmp_path, InProcessTarget(), InProcessTarget()).serving_targets  # noqa: B018


def test_an_uninstalled_target_fails_closed_naming_it(tmp_path: Path) -> None:
    target = InProcessTarget()
    with pytest.raises(
        StageError,
        match=r'no serving target named "k8s" \(available: '
        r"in-process\)",
    ):
        _serve(tmp_path, "k8s", "[hello]", target)
    assert target.started == []


def test_a_target_that_takes_no_prompt_is_refused_a_prompt(tmp_path: Path) -> None:
    # InProcessTarget.start() predates prompts: serving the bare model instead would
    # skip the prompt's approval, so the step fails before anything is started.
    target = InProcessTarget()
    with pytest.raises(
        StageError,
        match='serving target "in-process" cannot serve through a prompt version',
    ):
        _serve(tmp_path, "in-process", "[hi], prompt: 'prompt:support@1'", target)
    assert target.started == []


# -- context.records ---------------------------------------------------------------------


def test_records_are_read_and_checked_against_their_shape(tmp_path: Path) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text(
        '{"prompt": "Hi?", "response": "Hello."}\n\n'
        '{"prompt": "2+2?", "response": "4", "system": "Be brief."}\n'
    )
    ctx = _context(
        _host(tmp_path),
        tmp_path,
        dataset=dataset_input(data, shape="instruction", ref="dataset:qa@1"),
    )
    assert [r["prompt"] for r in ctx.records()] == ["Hi?", "2+2?"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "Hi?"}', r"dataset:qa@1:2: response: missing required field"),
        ("{not json", r"dataset:qa@1:2: "),
    ],
)
def test_a_bad_record_names_ref_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text('{"prompt": "Hi?", "response": "Hello."}\n' + line + "\n")
    ctx = _context(
        _host(tmp_path),
        tmp_path,
        dataset=dataset_input(data, shape="instruction", ref="dataset:qa@1"),
    )
    with pytest.raises(ValidationError, match=message):
        list(ctx.records())


def test_records_need_a_dataset_of_a_known_shape(tmp_path: Path) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text("{}\n")
    ctx = _context(
        _host(tmp_path),
        tmp_path,
        dataset=dataset_input(data, shape="tabular", ref="dataset:qa@1"),
        model=model_input(tmp_path, "echo"),
    )
    with pytest.raises(ValidationError, match='input "dataset" has shape "tabular"'):
        list(ctx.records())
    with pytest.raises(ValidationError, match='input "model" must be a dataset version'):
        list(ctx.records("model"))


def test_torch_threads_limits_inside_the_block_and_restores() -> None:
    import torch

    from lmops_core.runtimes import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
