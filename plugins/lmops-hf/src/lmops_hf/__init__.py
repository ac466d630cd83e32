"""lmops-hf: training, base models and generation on Hugging Face transformers + PEFT.

Nothing here ever reaches a model or dataset hub: every model is built locally
or read from a folder. The Hugging Face libraries' offline switches are set by
the core before it imports any plugin (:mod:`lmops_core.offline`); code that
imports this package without loading plugins (a test, a script) calls the
core's ``set_offline_defaults`` first.
"""

from __future__ import annotations

__version__ = "0.1.0"
