"""The plugin kit: one way to write an operation.

Subclass :class:`BaseOperation`, naming the parameter model in the brackets,
and write ``execute``::

    class Shout(BaseOperation[ShoutParams]):
        \"\"\"Upper-case the text field of each record.

        Anything after the first paragraph is documentation only.
        \"\"\"

        name = "shout"
        input_roles = {"dataset": "dataset"}
        evidence_kinds = ("shout",)

        def execute(self, context: StageContext, params: ShoutParams) -> StageResult: ...

The class declares what the core reads (see
:class:`lmops_core.contracts.Operation`): ``params_model`` is the model in
the brackets, and ``description`` is the first paragraph of the docstring of
the class that sets ``name``, joined into one line (unless that class sets
``description`` itself).
``run(context)`` validates the parameters as the runner does (once only,
when the runner already has) and hands them to ``execute`` typed.

A step that reads a dataset input of either layout (one JSONL file, or a folder of
Parquet partitions) reads it part by part with :func:`dataset_parts` and
:func:`part_lines`, and writes its output in the input's layout with
:class:`PartOutputs` (records as :func:`canonical_json`; one partition per input
partition), returning it with ``format=PARTITIONED_FORMAT`` when partitioned.
A step whose per-record work can run where the partitions are read hands it to the
data engine with :func:`map_row_batches` (a function on :class:`Rows`, one
:class:`RowBatch` back per row group, in order).
A step that rewrites every row may also read a partitioned input left in the artifact
store (it declares ``reads_stored_partitions = True``; its input then has ``stored`` set
and no ``path``): :func:`rewrite_stored_partitions` has the engine's workers fetch, rewrite
and store each partition (a function on :class:`Rows` returning :class:`Rewritten`), and
the step returns :func:`write_listing`'s file, ``format=PARTITIONED_FORMAT``, as its output.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin

from pydantic import BaseModel

from lmops_core.datasets.ingest import canonical_json
from lmops_core.datasets.partitions import PARTITIONED_FORMAT, PartitionWriter
from lmops_core.datasets.parts import (
    PartOutputs,
    dataset_parts,
    is_partitioned,
    part_lines,
    part_records,
)
from lmops_core.datasets.row_batches import (
    Rewritten,
    RowBatch,
    Rows,
    map_row_batches,
    rewrite_stored_partitions,
)
from lmops_core.datasets.stored import write_listing
from lmops_core.errors import PluginError, ValidationError
from lmops_core.hookspecs import hookimpl
from lmops_core.operations import options_of

if TYPE_CHECKING:
    from lmops_core.contracts import Register, StageContext, StageResult
    from lmops_core.reports import ReportFacts, ReportSection
    from lmops_core.runtimes import GuardSource, TextGuard

P = TypeVar("P", bound=BaseModel)

__all__ = [
    "PARTITIONED_FORMAT",
    "BaseOperation",
    "PartOutputs",
    "PartitionWriter",
    "Rewritten",
    "RowBatch",
    "Rows",
    "build_guard",
    "canonical_json",
    "dataset_parts",
    "is_partitioned",
    "part_lines",
    "map_row_batches",
    "part_records",
    "read_yaml_file",
    "registers",
    "report_sections",
    "rewrite_stored_partitions",
    "summary",
    "write_listing",
]


def summary(doc: str | None) -> str:
    """The first paragraph of ``doc``, its lines joined by single spaces ("" without one)."""
    text = inspect.cleandoc(doc or "")
    return " ".join(text.split("\n\n", 1)[0].split())


class BaseOperation(Generic[P]):
    """Base of an operation: declarations read from the class, parameters checked once."""

    name: ClassVar[str]
    description: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]
    input_roles: ClassVar[dict[str, str | tuple[str, ...]]]
    evidence_kinds: ClassVar[tuple[str, ...]] = ()
    #: False for an operation that never opens its inputs' files but hands them to child
    #: runs (a sweep): their ``path`` is then ``None`` in its context, and each is exported
    #: only when a child run first takes it as an input. What the run records is the same.
    reads_inputs: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The model in the brackets of BaseOperation[...] (or of a generic subclass of it).
        for base in cls.__dict__.get("__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, BaseOperation):
                models = [a for a in get_args(base) if isinstance(a, type)]
                if models and issubclass(models[0], BaseModel):
                    cls.params_model = models[0]
        # The class that names the operation describes it; a subclass that only changes
        # how it runs (or a generic base) leaves the description alone.
        if "name" in cls.__dict__ and "description" not in cls.__dict__:
            cls.description = summary(cls.__doc__)

    def run(self, context: StageContext) -> StageResult:
        """Validate ``context``'s parameters with ``params_model`` and call :meth:`execute`."""
        return self.execute(context, cast(P, options_of(context, self.params_model)))

    def execute(self, context: StageContext, params: P) -> StageResult:
        """Do the work, given the validated parameters; subclasses implement this."""
        raise NotImplementedError(f"operation {self.name!r} does not implement execute()")


def _resolve(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def registers(*targets: Any) -> Callable[[Register], None]:
    """A ``register_*`` hook implementation offering ``targets``.

    Assign it to the hook's name in the plugin module
    (``register_evaluators = registers("my_plugin.ops:Shout")``). A target
    given as ``"module:name"`` is imported when the hook is called, so a
    plugin whose operations need heavy libraries still loads fast; any other
    target is the object itself. A class is registered as an instance (made
    with no arguments), a list or tuple item by item, anything else (an
    ``EvidenceKind``, a ``ModelRuntime``) as it is.
    """

    @hookimpl
    def register_hook(register: Register) -> None:
        for target in targets:
            value = _resolve(target)
            if isinstance(value, type):
                register(value())
            elif isinstance(value, list | tuple):
                for item in value:
                    register(item)
            else:
                register(value)

    return register_hook


def report_sections(*targets: str) -> Callable[[ReportFacts], list[ReportSection]]:
    """An ``lmops_report_sections`` implementation: each target (``"module:function"``,
    imported when a report is built) makes one section from the report's facts."""

    @hookimpl
    def lmops_report_sections(facts: ReportFacts) -> list[ReportSection]:
        return [_resolve(target)(facts) for target in targets]

    return lmops_report_sections


def build_guard(
    source: GuardSource | None, name: str, *, needed_by: str, install: str, **options: Any
) -> TextGuard:
    """The text guard ``name`` built with ``options``, found in ``source`` (the plugins
    installed here when ``None``); a :class:`PluginError` saying who needs it and which
    distribution to install when no plugin offers it."""
    if source is None:
        from lmops_core.plugins import default_host

        source = default_host()
    found = source.find_guard(name)
    if found is not None:
        return found.build(**options)
    raise PluginError(
        f'{needed_by} needs the "{name}" guard, which no installed plugin offers; '
        f"install it with: pip install {install}",
        guard=name,
    )


def read_yaml_file(path: Path) -> Any:
    """The parsed content of the YAML file ``path``; a ValidationError naming the file if it
    cannot be read or is not YAML (pipelines, and plugins' configuration files)."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path}: not valid YAML: {exc}", file=str(path)) from exc
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc}", file=str(path)) from exc
