"""Optional parts of lmops-core, installed as pip extras, and the error when one is missing.

The core installs light: features that need a heavy library import it only when used, through
:func:`require`, so a missing one fails with the extra to install rather than a bare
``ModuleNotFoundError``. ``EXTRAS`` must match ``[project.optional-dependencies]`` in
``pyproject.toml`` (a test checks it).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from lmops_core.errors import ConfigurationError

#: Extra name -> the modules it provides, for the features that need them.
EXTRAS: dict[str, tuple[str, ...]] = {
    "parquet": ("pyarrow",),
    "dedup": ("datasketch",),
    "annotation": ("sklearn", "statsmodels", "numpy"),
    "postgres": ("psycopg",),
}


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise naming the extra that provides it."""
    if module.split(".")[0] not in EXTRAS[extra]:
        raise ValueError(f"extra {extra!r} does not provide {module!r}")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigurationError(
            f"{feature} needs the optional package {module.split('.')[0]!r}, which is not "
            f"installed ({exc}); install it with: pip install 'lmops-core[{extra}]'",
            extra=extra,
            module=module,
        ) from None
