"""A pytest plugin for testing lmops plugins: tiny models, governed stores, stage contexts.

Installed with the core (entry point ``pytest11``), or named explicitly with
``-p lmops_core.testing`` or ``pytest_plugins = ["lmops_core.testing"]`` in a
top-level conftest. Fixtures (see docs/plugins.md):

- ``tiny_model`` / ``tiny_models(kind)``: a tiny model of each kind an installed
  runtime can build (its ``tiny`` builder), once per session.
- ``workspace`` / ``make_workspace(...)``: a governed store, an admin bootstrapped,
  users acting through real tokens (``.as_user(user, *roles)``).
- ``stage_context(operation, inputs, params)``: a real stage context, parameters
  checked as the runner checks them.
- ``lmops_plugins`` (every installed plugin) and ``load_plugin(*modules)``: plugin hosts.
- ``recording_progress``, ``no_network``.
- ``postgres_url``: a fresh database on the test PostgreSQL server (``LMOPS_TEST_PG_URL``).

The core imports no ML library here: tiny models are built by the runtimes
plugins register, which import what they need when called.
"""

from __future__ import annotations

from lmops_core.testing.fixtures import (
    lmops_plugins,
    load_plugin,
    make_workspace,
    no_network,
    postgres_url,
    pytest_configure,
    recording_progress,
    stage_context,
    tiny_model,
    tiny_models,
    workspace,
)
from lmops_core.testing.helpers import (
    Governed,
    RecordingProgress,
    StageContexts,
    TinyModels,
    dataset_input,
    find_operation,
    hooks_of,
    listed_plugins,
    model_input,
    plugin_host,
    read_jsonl,
    registered_by,
    write_jsonl,
)

__all__ = [
    "Governed",
    "RecordingProgress",
    "StageContexts",
    "TinyModels",
    "dataset_input",
    "find_operation",
    "listed_plugins",
    "lmops_plugins",
    "load_plugin",
    "make_workspace",
    "model_input",
    "no_network",
    "postgres_url",
    "plugin_host",
    "pytest_configure",
    "read_jsonl",
    "recording_progress",
    "hooks_of",
    "registered_by",
    "stage_context",
    "tiny_model",
    "tiny_models",
    "workspace",
    "write_jsonl",
]
