"""One name per idea, for the words the domain uses for more than one.

"Stage" means where in its life an operation works on a version (a lifecycle
stage, :class:`~lmops_core.contracts.Stage`) or a state a version enters only
through an approved request (a governed stage: ``staging``, ``production``...).
"Role" means the name an operation gives an input or output (an input role),
who speaks in a dialogue record (a message role), or what a person may do in
governance (a user role). Signatures in the core use these names; the words
users see in the CLI and in YAML files stay as they are. Like
:mod:`lmops_core.vocabulary`, this module imports nothing at run time, so any
module may use it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from lmops_core.contracts import Stage

#: Where in a model's life an operation runs: ``training``, ``evaluation``... (the enum).
LifecycleStage: TypeAlias = "Stage"
#: A state a version enters only through an approved request (a closed set: the tuple
#: ``vocabulary.GOVERNED_STAGES`` is made from it).
GovernedStage: TypeAlias = Literal[
    "staging", "production", "approved-for-training", "approved-for-use"
]
#: The name an operation gives one of its inputs or outputs (``model``, ``train``...): an
#: open set, each operation declares its own.
InputRole: TypeAlias = str
#: Who speaks in a dialogue record: ``system``, ``user`` or ``assistant``.
MessageRole: TypeAlias = Literal["system", "user", "assistant"]
#: What a person may do in governance (a closed set: the tuple ``vocabulary.ROLES`` is made
#: from it). A policy's approvals may name any role; only these can be held.
UserRoleName: TypeAlias = Literal[
    "viewer", "submitter", "validator", "risk_officer", "data_steward", "admin"
]

__all__ = ["GovernedStage", "InputRole", "LifecycleStage", "MessageRole", "UserRoleName"]
