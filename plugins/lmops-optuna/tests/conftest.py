"""One store with a tiny base model and small data, shared by the module's sweeps."""

from __future__ import annotations

from lmops_core.offline import set_offline_defaults

set_offline_defaults()
