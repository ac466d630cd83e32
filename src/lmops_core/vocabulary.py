"""The closed sets of names the domain uses, in a module that imports nothing but
:mod:`lmops_core.terms` (which imports nothing).

The tables, the workflow and the policy model take their values from here, and so
does the CLI, which renders them as choices without importing the store.
"""

from __future__ import annotations

from typing import get_args

from lmops_core.terms import GovernedStage, UserRoleName

#: Every role a user can hold or sign as.
ROLES: tuple[UserRoleName, ...] = get_args(UserRoleName)
#: Every status a promotion request can have.
REQUEST_STATUSES: tuple[str, ...] = ("pending", "approved", "rejected", "expired", "invalidated")
#: The stages a version enters only through governance.
GOVERNED_STAGES: tuple[GovernedStage, ...] = get_args(GovernedStage)
#: The risk tier of an asset.
RISK_TIERS: tuple[str, ...] = ("low", "standard", "high")
#: The model kinds the core itself knows: a base model, a PEFT adapter over one, an adapter
#: merged into its base, a fully fine-tuned model. Every other kind (``onnx``, a third party's
#: ``gguf``...) exists because a plugin registers a model runtime for it
#: (``register_model_runtimes``); ``PluginHost.model_kinds()`` gives the whole set.
CORE_MODEL_KINDS: tuple[str, ...] = ("base", "adapter", "merged", "full")
