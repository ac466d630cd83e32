"""What plugins offer each other through the core: model runtimes, text guards, serving targets.

A plugin never imports another plugin. A plugin that can open a kind of model
registers a :class:`ModelRuntime` (``register_model_runtimes``); one that can
screen text for personal data registers a :class:`Guard` (``register_guards``);
one that checks and runs guard configuration files registers a :class:`GuardConfigType`
(``register_guard_configs``); one that can serve a deployment bundle registers a :class:`ServingTarget`
(``register_serving_targets``); one that runs data-preparation work on a
cluster registers a :class:`DataEngine` (``register_data_engines``).
Operations reach runtimes, guards and engines through their
:class:`~lmops_core.contracts.StageContext` (``context.load_model(role)``,
``context.guard(name)``, ``context.data_engine(name)``), services through the
plugin host.

This module imports nothing heavy: no ML library is imported until a runtime
loads a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from lmops_core.errors import PluginError, ValidationError

Capability = Literal["generate", "score"]
CAPABILITIES: tuple[str, ...] = get_args(Capability)


@dataclass(frozen=True)
class GenerationOptions:
    """How a :class:`LoadedModel` decodes a reply.

    At most ``max_new_tokens`` tokens (>= 1), chosen greedily unless
    ``do_sample``; when sampling, logits are divided by ``temperature`` (> 0),
    ``top_k`` keeps only the k likeliest tokens (0: all of them) and ``seed``
    makes the draw repeatable. A bad value raises
    :class:`~lmops_core.errors.ValidationError` naming the field.
    """

    max_new_tokens: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    seed: int | None = None

    def __post_init__(self) -> None:
        if not _is_count(self.max_new_tokens, least=1):
            raise ValidationError(
                f"max_new_tokens must be >= 1, got {self.max_new_tokens!r}", field="max_new_tokens"
            )
        if self.do_sample and not self.temperature > 0:
            raise ValidationError(
                f"temperature must be > 0 when sampling, got {self.temperature!r}",
                field="temperature",
            )
        if not _is_count(self.top_k, least=0):
            raise ValidationError(
                f"top_k must be an integer >= 0, got {self.top_k!r}", field="top_k"
            )


def _is_count(value: object, *, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def generation_options(
    options: GenerationOptions | int | None = None, **legacy: Any
) -> GenerationOptions:
    """The :class:`GenerationOptions` a ``generate``/``stream`` call asks for.

    Runtimes call this first thing. ``options`` defaults to ``GenerationOptions()``;
    the older call forms still work: fields given as keywords
    (``generate(prompt, max_new_tokens=8, do_sample=True)``) replace those of
    ``options``, and an int in place of ``options`` is ``max_new_tokens``.
    """
    if isinstance(options, int) and not isinstance(options, bool):
        legacy = {"max_new_tokens": options, **legacy}
        options = None
    if options is None:
        options = GenerationOptions()
    if not isinstance(options, GenerationOptions):
        raise ValidationError(
            f"options must be GenerationOptions, got {type(options).__name__}", field="options"
        )
    return replace(options, **legacy) if legacy else options


@runtime_checkable
class LoadedModel(Protocol):
    """A model opened by a runtime: text in, text out, whatever its kind.

    ``engine`` names what runs it (``"transformers"``, ``"onnxruntime"``);
    ``tokenizer`` is the model's tokenizer (the Hugging Face tokenizer API:
    call it on text, ``decode``, ``eos_token_id``, ``apply_chat_template``).
    ``generate`` and ``stream`` place ``prompt`` as the user turn of the
    model's chat template and decode as ``options`` say (read them with
    :func:`generation_options`, which also accepts the older keyword form);
    joining what ``stream`` yields gives exactly ``generate``'s text. A runtime
    may also offer ``native``: the engine's own model object (a transformers
    model, an ONNX Runtime wrapper), for libraries that must drive it themselves.
    """

    engine: str
    tokenizer: Any

    def generate(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> str:
        """The reply to ``prompt``."""
        ...

    def stream(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> Iterator[str]:
        """The reply to ``prompt``, in decoded pieces as they are generated."""
        ...


@runtime_checkable
class ScoringModel(LoadedModel, Protocol):
    """A loaded model that also scores token sequences (capability ``"score"``)."""

    def greedy_ids(self, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
        """Ids generated greedily after ``prompt_ids`` (an end token included if produced)."""
        ...

    def continuation_log_probs(
        self, prompts: Sequence[Sequence[int]], continuation: Sequence[int]
    ) -> list[float]:
        """``log p(continuation | prompt)`` for each prompt (token ids, one batch)."""
        ...


ModelLoader = Callable[..., LoadedModel]
"""``load(folder, *, base, threads) -> LoadedModel``: ``base`` is the base model folder
(``None`` unless the runtime ``needs_base``), ``threads`` a CPU thread count or ``None``."""

TinyBuilder = Callable[..., Path]
"""``tiny(folder, *, seed, base) -> folder``: write a tiny model of the runtime's kind into
``folder`` (built locally: random weights, a tokenizer trained on shipped text; nothing
downloaded). ``base`` is a tiny model of kind ``"base"`` for kinds made from one (an
adapter, an export), else ``None``. ``lmops_core.testing`` builds its fixtures with it."""


@dataclass(frozen=True)
class ModelRuntime:
    """How to open one kind of model version (``kind``: ``"base"``, ``"onnx"``...).

    ``load`` opens a model folder (see :data:`ModelLoader`) and must import its
    ML libraries itself, when called, never at registration. ``needs_base``:
    the kind is opened together with its base model (a PEFT adapter), which
    the operation receives under the input role ``"base"``. ``capabilities``
    lists what the loaded model offers: ``"generate"`` (always: a
    :class:`LoadedModel`) and ``"score"`` (a :class:`ScoringModel`). ``tiny``
    (optional, see :data:`TinyBuilder`) builds a tiny model of the kind for tests.
    """

    kind: str
    load: ModelLoader
    engine: str
    needs_base: bool = False
    capabilities: frozenset[str] = frozenset({"generate"})
    description: str = ""
    tiny: TinyBuilder | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise PluginError(f"model runtime kind must be a non-empty string, got {self.kind!r}")
        if not callable(self.load):
            raise PluginError(f'model runtime for kind "{self.kind}": load must be callable')
        if self.tiny is not None and not callable(self.tiny):
            raise PluginError(f'model runtime for kind "{self.kind}": tiny must be callable')
        caps = frozenset(self.capabilities)
        unknown = sorted(caps - set(CAPABILITIES))
        if unknown or "generate" not in caps:
            raise PluginError(
                f'model runtime for kind "{self.kind}": capabilities must include '
                f'"generate" and be among {", ".join(CAPABILITIES)}, '
                f"got {sorted(caps)}"
            )
        object.__setattr__(self, "capabilities", caps)

    def open(
        self,
        folder: Path,
        *,
        base: Path | None = None,
        threads: int | None = None,
        needs: Sequence[str] = ("generate",),
    ) -> LoadedModel:
        """Load ``folder`` after checking the runtime offers every capability in ``needs``."""
        missing = [c for c in needs if c not in self.capabilities]
        if missing:
            raise PluginError(
                f'model kind "{self.kind}" ({self.engine}) cannot {missing[0]}: its runtime '
                f"offers {', '.join(sorted(self.capabilities))}",
                kind=self.kind,
            )
        if self.needs_base and base is None:
            raise PluginError(
                f'model kind "{self.kind}" needs its base model folder', kind=self.kind
            )
        model = self.load(Path(folder), base=base, threads=threads)
        wanted = ScoringModel if "score" in needs else LoadedModel
        if not isinstance(model, wanted):
            raise PluginError(
                f'the runtime for model kind "{self.kind}" returned '
                f"{type(model).__name__}, which is not a {wanted.__name__}",
                kind=self.kind,
            )
        return model


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Use ``count`` torch intra-op threads inside the block, then restore the old number.

    ``None`` leaves torch's setting, and so does a process without torch
    installed (it has no torch threads to limit). Tiny and small models gain
    nothing from several threads, and on a busy machine spin-waiting threads
    make each forward pass many times slower. torch is imported only here.
    """
    if count is None:
        yield
        return
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name != "torch":  # torch is there but broken: say so
            raise
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------------
# Guards
# ---------------------------------------------------------------------------


@runtime_checkable
class TextGuard(Protocol):
    """Finds and redacts sensitive spans in text (personal data, secrets...).

    A finding has ``entity_type``, ``start``, ``end`` and ``score``; a
    redaction has ``text`` (redacted) and ``counts`` (entity type to count).
    ``describe()`` gives the guard's settings as JSON-friendly data, safe for
    evidence (no secret such as a salt).
    """

    def scan(self, text: str) -> Sequence[Any]:
        """Findings in ``text``, by start offset."""
        ...

    def scan_batch(self, texts: Sequence[str]) -> Sequence[Sequence[Any]]:
        """:meth:`scan` for many texts."""
        ...

    def redact(self, text: str) -> Any:
        """``text`` redacted, with counts per entity type."""
        ...

    def redact_batch(self, texts: Sequence[str]) -> Sequence[Any]:
        """:meth:`redact` for many texts."""
        ...

    def describe(self) -> Mapping[str, Any]:
        """The guard's settings, safe to record as evidence."""
        ...


@dataclass(frozen=True)
class Guard:
    """A named guard a plugin offers: ``factory(**options)`` builds a :class:`TextGuard`.

    The options are the guard's own (documented by the plugin); an option the
    factory does not know, or a bad value, raises
    :class:`~lmops_core.errors.ValidationError` naming it.
    """

    name: str
    factory: Callable[..., TextGuard]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise PluginError(f"guard name must be a non-empty string, got {self.name!r}")
        if not callable(self.factory):
            raise PluginError(f'guard "{self.name}": factory must be callable')

    def build(self, **options: Any) -> TextGuard:
        """A guard built with ``options``, checked to be a :class:`TextGuard`."""
        guard = self.factory(**options)
        if not isinstance(guard, TextGuard):
            raise PluginError(
                f'guard "{self.name}": factory returned {type(guard).__name__}, '
                "which is not a TextGuard (scan, scan_batch, redact, "
                "redact_batch, describe)",
                guard=self.name,
            )
        return guard


class GuardSource(Protocol):
    """Where guards are found: a stage context, or the plugin host outside a run."""

    def find_guard(self, name: str) -> Guard | None:
        """The guard registered as ``name``, or ``None`` when no plugin offers it."""
        ...


@dataclass(frozen=True)
class GuardIdentity:
    """What a guard configuration document is: its ``kind``, the ``name`` it gives itself,
    and its ``digest`` (of its meaning: comments and layout do not change it)."""

    kind: str
    name: str
    digest: str


@dataclass(frozen=True)
class GuardedAnswer:
    """One request answered behind a guard pipeline.

    ``text`` is what the client would receive; ``refused`` when the request filter answered
    with its refusal (``category`` says why), ``blocked`` when the guard stopped the request
    or the reply. ``guard_ms`` is the time the guard itself took (the model's excluded).
    """

    text: str
    refused: bool = False
    blocked: bool = False
    category: str = ""
    guard_ms: float = 0.0


@runtime_checkable
class GuardPipeline(Protocol):
    """A guard configuration built into the checks a served model answers behind."""

    def answer(self, prompt: str, generate: Callable[[str], str]) -> GuardedAnswer:
        """``prompt`` through the request checks, ``generate`` for what passes (called with
        the text the model is sent), the reply through the output checks."""
        ...


@dataclass(frozen=True)
class GuardConfigType:
    """A kind of guard configuration document a plugin can check and run.

    ``kind`` is the document's ``kind:`` field (``"GuardConfig"``). ``check(document,
    source)`` validates a parsed YAML document (errors name ``source`` and the field) and
    returns its :class:`GuardIdentity`; ``pipeline(path, guards)`` builds the checks of
    the configuration file at ``path``, finding text guards in ``guards``.
    """

    kind: str
    check: Callable[[Any, str], GuardIdentity]
    pipeline: Callable[[Path, GuardSource], GuardPipeline]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise PluginError(f"guard configuration kind must be a non-empty string: {self.kind!r}")
        if not callable(self.check) or not callable(self.pipeline):
            raise PluginError(
                f'guard configuration kind "{self.kind}": check and pipeline must be callable'
            )


class GuardConfigSource(Protocol):
    """Where guard configuration kinds are found: a stage context, or the plugin host."""

    def guard_config_type(self, kind: str) -> GuardConfigType:
        """The type registered for documents of ``kind``, or a PluginError naming it."""
        ...


class RuntimeSource(Protocol):
    """Where model runtimes are found: a stage context, or the plugin host outside a run."""

    def model_runtime(self, kind: str) -> ModelRuntime:
        """The runtime registered for model ``kind``, or a PluginError naming the kind."""
        ...

    def find_model_runtime(self, kind: str) -> ModelRuntime | None:
        """The runtime registered for model ``kind``, or ``None``."""
        ...


# ---------------------------------------------------------------------------
# Data engines
# ---------------------------------------------------------------------------

#: What a data step runs on one chunk of items (raw records, texts...): one result per chunk.
ChunkFunction = Callable[[list[Any]], Any]


@dataclass(frozen=True)
class Ready:
    """An engine's ``setup`` for a chunk function that needs nothing built per worker.

    The function must be picklable (a module-level function, a partial of one, a frozen
    dataclass instance) for an engine that runs it in other processes.
    """

    function: ChunkFunction

    def __call__(self) -> ChunkFunction:
        return self.function


@runtime_checkable
class ChunkMapper(Protocol):
    """Runs a data step's per-chunk work on an engine, and hands the results back in order.

    ``setup`` is a picklable callable without arguments that returns the
    :data:`ChunkFunction`; an engine calls it once per worker (so whatever it
    builds, an analyzer or a model, is built once per worker, never per
    record), then applies the function to every chunk it gives that worker.
    The results come back in the order of ``chunks``, whatever worker ran
    them, so a step that decides on them in that order (keep the first of
    duplicates) writes the same output on every engine.
    """

    name: str
    #: How many workers run chunks at once.
    workers: int

    def map_chunks(
        self, setup: Callable[[], ChunkFunction], chunks: Iterable[list[Any]]
    ) -> Iterator[Any]:
        """``setup()(chunk)`` for every chunk, in the order of ``chunks``."""
        ...


@runtime_checkable
class PlannedMapper(ChunkMapper, Protocol):
    """An engine that also runs work listed up front as one planned pipeline (Ray Data).

    ``map_planned`` has :meth:`ChunkMapper.map_chunks`'s contract (``setup`` once per
    worker, results in the order of ``chunks``), but every chunk is known before the
    first runs (the row groups of a partitioned input, the partitions to check), so the
    engine can plan them as a dataset of its own instead of being fed one by one.
    """

    def map_planned(
        self,
        setup: Callable[[], ChunkFunction],
        chunks: Sequence[list[Any]],
        *,
        env: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """``setup()(chunk)`` for every chunk, in the order of ``chunks``.

        ``env``: variables the workers need in their environment (the artifact store's
        endpoint and credentials, when they read and write partitions there themselves).
        """
        ...


def map_planned(
    mapper: ChunkMapper,
    setup: Callable[[], ChunkFunction],
    chunks: Sequence[list[Any]],
    *,
    env: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """``chunks`` on ``mapper``: as one planned pipeline if it offers one, else chunk by chunk.

    ``env`` goes to a planned pipeline's workers; an engine that maps chunk by chunk runs
    them in processes that share the calling one's environment.
    """
    if isinstance(mapper, PlannedMapper):
        if env:
            return mapper.map_planned(setup, chunks, env=env)
        return mapper.map_planned(setup, chunks)
    return mapper.map_chunks(setup, chunks)


@dataclass(frozen=True)
class DataEngine:
    """A named engine data steps may run on: ``connect()`` returns its :class:`ChunkMapper`.

    ``configured()`` says whether the settings ask for this engine when a step
    names none (a cluster address in the environment); ``"local"``, lmops' own
    in-process engine, runs when no engine is configured.
    """

    name: str
    connect: Callable[[], ChunkMapper]
    description: str = ""
    configured: Callable[[], bool] = field(default=lambda: False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise PluginError(f"data engine name must be a non-empty string, got {self.name!r}")
        if not callable(self.connect) or not callable(self.configured):
            raise PluginError(f'data engine "{self.name}": connect and configured must be callable')


class DataEngineSource(Protocol):
    """Where data engines are found: a stage context, or the plugin host outside a run."""

    def data_engine(self, name: str | None = None) -> ChunkMapper:
        """The engine ``name`` (``None``: the configured one, else ``"local"``), connected."""
        ...


# ---------------------------------------------------------------------------
# Serving targets
# ---------------------------------------------------------------------------


@runtime_checkable
class ServedModel(Protocol):
    """A bundle being served by a :class:`ServingTarget`, until :meth:`stop`.

    ``url`` is where clients reach it (empty when it is not a network
    service). ``health()`` returns ``None`` while starting, a mapping of
    facts once healthy (engine, guard mode...), and raises
    :class:`~lmops_core.errors.StageError` with the reason if the service
    died. ``generate`` sends one prompt through the service exactly as a
    client would (guard included) and returns the reply.
    """

    url: str

    def health(self) -> Mapping[str, Any] | None:
        """Whether the service is up (``None`` while starting)."""
        ...

    def generate(self, prompt: str, *, max_new_tokens: int) -> str:
        """The reply the service gives a client for ``prompt``."""
        ...

    def stop(self) -> None:
        """Stop serving and release everything; calling it twice does nothing."""
        ...


@runtime_checkable
class ServingTarget(Protocol):
    """Somewhere a verified deployment bundle can be served (a local HTTP service...).

    ``start`` verifies and serves ``bundle`` with the given ``guard_mode``
    (``redact``, ``block`` or ``off``), appending the redacted inference log to
    ``log_path``, under the lmops home ``home`` (its keys and store decide
    whether the bundle still stands), and returns at once: poll
    :meth:`ServedModel.health` until it is up.

    With ``prompt`` (a prompt version's reference) every request is sent through
    that prompt version, which the store under ``home`` must find approved for the
    bundle's stage and written for the bundle's model
    (:func:`lmops_core.deploy.prompts.approved_prompt`). A prompt that is not is
    refused with that function's :class:`~lmops_core.errors.PolicyViolationError`,
    raised by ``start`` or, for a target serving from another process, by
    :meth:`ServedModel.health` as a :class:`~lmops_core.errors.StageError` carrying
    its message; never served. A target written before prompts existed takes no
    ``prompt`` argument: the core then refuses to serve a prompt through it.
    """

    name: str
    description: str

    def start(
        self,
        bundle: Path,
        *,
        home: Path,
        guard_mode: str,
        log_path: Path,
        prompt: str | None = None,
    ) -> ServedModel:
        """Start serving ``bundle`` (through ``prompt``, if given); the caller must
        :meth:`ServedModel.stop` it."""
        ...
