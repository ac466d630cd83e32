"""The closed sets of values CLI options accept, built from the domain's own tuples.

Typer renders a ``Literal`` as a choice: an unknown value is refused with exit
code 2 and the list of accepted values, never answered with an empty result.
Roles and governed stages are ``Literal`` types of :mod:`lmops_core.terms` already;
the other sets are tuples (``Literal`` of a tuple is the same as ``Literal`` of its
items; mypy cannot see through it, hence the ignores in this one module).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import typer

from lmops_core import terms
from lmops_core.datasets.shapes import SHAPES
from lmops_core.terms import UserRoleName
from lmops_core.vocabulary import (
    CORE_MODEL_KINDS,
    REQUEST_STATUSES,
    RISK_TIERS,
)

#: A role a user can hold or sign as.
Role: TypeAlias = UserRoleName
#: A stage a version enters through governance (staging, production, ...).
GovernedStage: TypeAlias = terms.GovernedStage
#: The record shape of a dataset.
Shape: TypeAlias = Literal[SHAPES]  # type: ignore[valid-type]
#: The risk tier of an asset.
RiskTier: TypeAlias = Literal[RISK_TIERS]  # type: ignore[valid-type]
#: A promotion request's status, or ``all``.
StatusFilter: TypeAlias = Literal[(*REQUEST_STATUSES, "all")]  # type: ignore[valid-type]


#: Help for a ``--kind`` option: model kinds are open (a plugin's model runtime adds one).
MODEL_KIND_HELP = (
    f"The model kind: {', '.join(CORE_MODEL_KINDS)}, or a kind an installed "
    "plugin's model runtime opens (see lmops plugins -v)."
)


def check_model_kind(value: str | None) -> str | None:
    """Typer callback: refuse a model kind neither the core nor an installed runtime knows.

    The set is not closed (a plugin registers a runtime for its kind), so this
    asks the installed plugins, only for a kind that is not one of the core's,
    and refuses as a choice would: exit code 2, every accepted value listed.
    """
    if value is None or value in CORE_MODEL_KINDS:
        return value
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import get_settings

    kinds = load_plugins(get_settings(), registrations=False).model_kinds()
    if value not in kinds:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, kinds))}.")
    return value
