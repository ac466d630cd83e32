"""The optional PII descriptor, through the ``pii`` guard (lmops-presidio) when one is installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa

from lmops_core.errors import PluginError
from lmops_core.runtimes import GuardSource

Scan = Callable[[Sequence[str]], Sequence[Sequence[object]]]
"""Findings for each of a batch of texts (the guard's ``scan_batch``)."""


def load_scanner(guards: GuardSource | None = None) -> tuple[Scan | None, str]:
    """The ``pii`` guard's ``scan_batch`` and a status line, or ``None`` and why not.

    The guard is looked up, not assumed: this plugin works without one (no
    plugin registers ``"pii"``) and then says in its evidence that PII was not
    measured. ``guards``: the run's stage context (default: the plugins
    installed here). The status names the guard's class, for the evidence.
    """
    if guards is None:
        from lmops_core.plugins import default_host

        guards = default_host()
    found = guards.find_guard("pii")
    if found is None:
        return None, 'not measured: no installed plugin offers the "pii" guard (lmops-presidio)'
    guard = found.build()
    return guard.scan_batch, f"{type(guard).__module__}.{type(guard).__qualname__}"


def require_scanner(guards: GuardSource | None = None) -> tuple[Scan, str]:
    """The scanner and its status, or a PluginError when ``pii`` was asked for explicitly."""
    scan, status = load_scanner(guards)
    if scan is None:
        raise PluginError(f'descriptor "pii" needs lmops-presidio: {status}')
    return scan, status


def pii_flags(scan: Scan, texts: pa.Array, chosen: np.ndarray) -> np.ndarray:
    """1.0 where a chosen text has a finding, 0.0 where it has none, NaN elsewhere.

    Only ``chosen`` rows are scanned: the guard's NER model gets through a few
    hundred texts a second, so a large window gets a sample (NaN rows are left
    out of the drift test by Evidently).
    """
    flags = np.full(len(texts), np.nan)
    picked = np.flatnonzero(chosen)
    values = texts.take(pa.array(picked, type=pa.int64())).to_pylist()
    rows = [int(i) for i, text in zip(picked, values, strict=True) if text is not None]
    batch = [text for text in values if text is not None]
    # One batch per chunk: the guard runs its NER model over many texts at once.
    findings = scan(batch) if batch else []
    for index, found in zip(rows, findings, strict=True):
        flags[index] = 1.0 if len(found) > 0 else 0.0
    return flags
