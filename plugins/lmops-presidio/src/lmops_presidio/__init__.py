"""lmops-presidio: find and redact personal data with Microsoft presidio.

* ``pii-redact``, a data-preparation step (see :mod:`lmops_presidio.step`);
* :class:`lmops_presidio.guard.PiiGuard`, a runtime guard, registered as the
  guard ``"pii"`` that other plugins build through the core
  (``context.guard("pii")``), never by importing this package.

Everything runs offline: the NLP engine is configured explicitly and the
e-mail recognizer's domain check uses the suffix list bundled with tldextract
(:mod:`lmops_presidio.tld`); the process-wide switches are set by the core before
it imports any plugin (:mod:`lmops_core.offline`).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
