"""lmops' own behaviour, registered through the same hooks third-party plugins use."""

#: Modules loaded as plugins before any entry point, in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "lmops_core.builtins.local_storage",
    "lmops_core.builtins.evidence_kinds",
    "lmops_core.builtins.data_steps",
)
