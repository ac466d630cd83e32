"""The closed sets of values CLI options accept, built from the domain's own tuples.

Typer renders a ``Literal`` as a choice: an unknown value is refused with exit
code 2 and the list of accepted values, never answered with an empty result.
(``Literal`` of a tuple is the same as ``Literal`` of its items; mypy cannot
see through it, hence the ignores in this one module.)
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from lmops_core.datasets.shapes import SHAPES
from lmops_core.vocabulary import (
    GOVERNED_STAGES,
    MODEL_KINDS,
    REQUEST_STATUSES,
    RISK_TIERS,
    ROLES,
)

#: A role a user can hold or sign as.
Role: TypeAlias = Literal[ROLES]  # type: ignore[valid-type]
#: A stage a version enters through governance (staging, production, ...).
GovernedStage: TypeAlias = Literal[GOVERNED_STAGES]  # type: ignore[valid-type]
#: The record shape of a dataset.
Shape: TypeAlias = Literal[SHAPES]  # type: ignore[valid-type]
#: The kind of a model version.
ModelKind: TypeAlias = Literal[MODEL_KINDS]  # type: ignore[valid-type]
#: The risk tier of an asset.
RiskTier: TypeAlias = Literal[RISK_TIERS]  # type: ignore[valid-type]
#: A promotion request's status, or ``all``.
StatusFilter: TypeAlias = Literal[(*REQUEST_STATUSES, "all")]  # type: ignore[valid-type]
