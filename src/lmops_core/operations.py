"""What an operation declares about itself, and checking a run against it.

An operation registered by a plugin is read once, at registration, into an
:class:`OperationSpec`: its one-line description, its parameter model, its
input roles (with the asset types each accepts) and the evidence kinds it
records. A declaration that makes no sense is a :class:`PluginError` naming
the plugin. Before a run, :func:`validate_params` and :func:`check_inputs`
hold the run to the declaration, so nothing is materialised for a run that
cannot start: every refusal is a :class:`ValidationError` with one shape
(detail ``param`` names the parameter, ``field`` the input role).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from lmops_core.contracts import ASSET_TYPES
from lmops_core.errors import PluginError, ValidationError

if TYPE_CHECKING:
    from lmops_core.contracts import StageContext

M = TypeVar("M", bound=BaseModel)

_ROLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class ParamInfo:
    """One declared parameter, as listings show it."""

    name: str
    type: str
    default: str
    required: bool
    description: str


@dataclass(frozen=True)
class OperationSpec:
    """What an operation says about itself (``None`` where it says nothing)."""

    name: str
    description: str
    params_model: type[BaseModel] | None
    input_roles: dict[str, tuple[str, ...]] | None
    evidence_kinds: tuple[str, ...]
    #: False when the operation never opens its inputs' files itself but hands them to
    #: child runs: the runner then exports each only when a child first asks for it.
    reads_inputs: bool = True
    #: True when a cluster engine's workers may read a partitioned input from the artifact
    #: store themselves (``InputAsset.stored``) instead of the runner exporting it.
    reads_stored_partitions: bool = False

    def params(self) -> list[ParamInfo]:
        """The declared parameters, in declaration order (empty when undeclared)."""
        if self.params_model is None:
            return []
        out = []
        for name, info in self.params_model.model_fields.items():
            required = info.is_required()
            default = "" if required else repr(info.get_default(call_default_factory=True))
            out.append(
                ParamInfo(
                    name=name,
                    type=_type_name(info.annotation),
                    default=default,
                    required=required,
                    description=info.description or "",
                )
            )
        return out


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or str(annotation).replace("typing.", "")


def describe(op: Any, *, plugin: str, hook: str) -> OperationSpec:
    """Read and check what ``op`` declares; a bad declaration names ``plugin`` and ``hook``."""
    where = f'plugin "{plugin}" operation "{getattr(op, "name", op)!s}" ({hook})'
    name = getattr(op, "name", None)
    description = getattr(op, "description", None)
    if not isinstance(name, str) or not _ROLE_NAME.fullmatch(name.replace(".", "-")):
        raise PluginError(f"{where}: name must be a plain name", plugin=plugin)
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise PluginError(f"{where}: description must be one non-empty line", plugin=plugin)
    model = getattr(op, "params_model", None)
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise PluginError(
            f"{where}: params_model must be a pydantic model class "
            "(subclass lmops_core.OperationParams)",
            plugin=plugin,
        )
    return OperationSpec(
        name=name,
        description=description.strip(),
        params_model=model,
        input_roles=_roles(getattr(op, "input_roles", None), where, plugin),
        evidence_kinds=_kinds(getattr(op, "evidence_kinds", ()), where, plugin),
        reads_inputs=_flag(getattr(op, "reads_inputs", True), "reads_inputs", where, plugin),
        reads_stored_partitions=_flag(
            getattr(op, "reads_stored_partitions", False), "reads_stored_partitions", where, plugin
        ),
    )


def _flag(declared: Any, name: str, where: str, plugin: str) -> bool:
    if not isinstance(declared, bool):
        raise PluginError(f"{where}: {name} must be True or False", plugin=plugin)
    return declared


def _roles(declared: Any, where: str, plugin: str) -> dict[str, tuple[str, ...]] | None:
    if declared is None:
        return None
    if not isinstance(declared, Mapping):
        # A bare tuple of role names (the older form) accepts any asset type.
        if isinstance(declared, list | tuple) and all(isinstance(r, str) for r in declared):
            return {r: ASSET_TYPES for r in declared}
        raise PluginError(
            f"{where}: input_roles must map each role to its asset type", plugin=plugin
        )
    out: dict[str, tuple[str, ...]] = {}
    for role, types in declared.items():
        accepted = (types,) if isinstance(types, str) else tuple(types)
        bad = [t for t in accepted if t not in ASSET_TYPES]
        if not isinstance(role, str) or not _ROLE_NAME.fullmatch(role) or bad or not accepted:
            raise PluginError(
                f"{where}: input role {role!r} -> {types!r}: a role is a plain "
                f"name and takes one or more of {', '.join(ASSET_TYPES)}",
                plugin=plugin,
            )
        out[role] = accepted
    return out


def _kinds(declared: Any, where: str, plugin: str) -> tuple[str, ...]:
    if isinstance(declared, str) or not all(isinstance(k, str) for k in declared):
        raise PluginError(f"{where}: evidence_kinds must be a tuple of kind names", plugin=plugin)
    return tuple(declared)


def validate_params(
    spec: OperationSpec, params: Mapping[str, Any]
) -> tuple[dict[str, Any], BaseModel | None]:
    """The run's parameters checked against ``spec``, defaults filled in, and the model.

    Unknown names are refused even when the model would ignore them, so a typo
    never falls back to a default silently.
    """
    model = spec.params_model
    if model is None:
        return dict(params), None
    known = set(model.model_fields)
    for key in params:
        if key not in known:
            raise ValidationError(
                f'operation "{spec.name}": unknown parameter "{key}" (accepted: '
                f"{', '.join(sorted(known)) or 'none'})",
                param=str(key),
            )
    try:
        parsed = model.model_validate(dict(params))
    except PydanticError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "?"
        got = f" (got {first['input']!r})" if "input" in first and first["loc"] else ""
        raise ValidationError(
            f'operation "{spec.name}": parameter "{name}": {first["msg"]}{got}', param=name
        ) from None
    return parsed.model_dump(), parsed


def options_of(context: StageContext, model: type[M]) -> M:
    """The run's validated parameters as an instance of ``model``.

    Through the runner, ``context.options`` already is one. A context built
    elsewhere (a plugin's unit test, a service calling an operation directly)
    has its ``params`` validated here the same way, with the same error shape.
    """
    if isinstance(context.options, model):
        return context.options
    spec = OperationSpec(
        name=context.operation,
        description="",
        params_model=model,
        input_roles=None,
        evidence_kinds=(),
    )
    _, parsed = validate_params(spec, context.params)
    assert isinstance(parsed, model)
    return parsed


def check_inputs(
    spec: OperationSpec | None, operation: str, inputs: Mapping[str, tuple[str, str | None]]
) -> None:
    """Refuse roles that are not plain names or not declared, and inputs of the wrong type.

    ``inputs`` maps each role to ``(reference, asset type or None)``. A role
    becomes a folder name under the run's inputs, so it is checked like any
    other name that becomes a path, before anything is written.
    """
    declared = spec.input_roles if spec is not None else None
    for role, (ref, asset_type) in inputs.items():
        if not isinstance(role, str) or not _ROLE_NAME.fullmatch(role):
            raise ValidationError(
                f'operation "{operation}": input role {role!r} is not a plain name (letters, '
                "digits, '_' or '-', starting with a letter)",
                field=f"inputs.{role}",
            )
        if declared is None:
            continue
        if role not in declared:
            raise ValidationError(
                f'operation "{operation}": unknown input role "{role}" (it takes: '
                f"{', '.join(declared) or 'no inputs'})",
                field=f"inputs.{role}",
            )
        if asset_type is not None and asset_type not in declared[role]:
            raise ValidationError(
                f'operation "{operation}": input role "{role}" takes a '
                f"{' or '.join(declared[role])}, not {ref!r}",
                field=f"inputs.{role}",
            )
