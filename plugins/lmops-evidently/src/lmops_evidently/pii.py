"""The optional PII descriptor, through lmops-presidio's guard when it is installed."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmops_core.errors import PluginError

Scan = Callable[[Sequence[str]], Sequence[Sequence[object]]]
"""Findings for each of a batch of texts (``PiiGuard.scan_batch``)."""


def load_scanner() -> tuple[Scan | None, str]:
    """lmops-presidio's ``PiiGuard.scan_batch`` and a status line, or ``None`` and why not.

    The import is attempted, not assumed: this plugin works without
    lmops-presidio and then says in its evidence that PII was not measured.
    """
    try:
        from lmops_presidio.guard import GuardConfig, PiiGuard
    except ImportError as exc:
        return None, f"not measured: lmops_presidio.guard is not importable ({exc})"
    guard = PiiGuard(GuardConfig())
    return guard.scan_batch, "lmops_presidio.guard.PiiGuard"


def require_scanner() -> Scan:
    """The scanner, or a PluginError when the ``pii`` descriptor was asked for explicitly."""
    scan, status = load_scanner()
    if scan is None:
        raise PluginError(f'descriptor "pii" needs lmops-presidio: {status}')
    return scan


def pii_flags(scan: Scan, texts: Sequence[str | None], chosen: np.ndarray) -> np.ndarray:
    """1.0 where a chosen text has a finding, 0.0 where it has none, NaN elsewhere.

    Only ``chosen`` rows are scanned: the guard's NER model gets through a few
    hundred texts a second, so a large window gets a sample (NaN rows are left
    out of the drift test by Evidently).
    """
    flags = np.full(len(texts), np.nan)
    rows = [int(i) for i in np.flatnonzero(chosen) if texts[int(i)] is not None]
    batch = [texts[i] or "" for i in rows]
    # One batch per chunk: the guard runs its NER model over many texts at once.
    findings = scan(batch) if batch else []
    for index, found in zip(rows, findings, strict=True):
        flags[index] = 1.0 if len(found) > 0 else 0.0
    return flags
