"""lmops-presidio: find and redact personal data with Microsoft presidio.

* ``pii-redact``, a data-preparation step (see :mod:`lmops_presidio.step`);
* :class:`lmops_presidio.guard.PiiGuard`, a runtime guard, registered as the
  guard ``"pii"`` that other plugins build through the core
  (``context.guard("pii")``), never by importing this package.

Everything runs offline: the NLP engine is configured explicitly and the
e-mail recognizer's domain check uses the suffix list bundled with tldextract.
"""

from __future__ import annotations

from lmops_presidio import offline as _offline  # noqa: F401  (sets offline env first)

__all__ = ["__version__"]

__version__ = "0.1.0"
