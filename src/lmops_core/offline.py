"""The switches that keep the ML libraries plugins drive away from the network.

The core applies them once per process, in :func:`lmops_core.plugins.load_plugins`,
before any plugin's entry point is imported, so no plugin sets them itself.
Each is set only when the environment does not have it already: a value the
user set on purpose (``HF_HUB_OFFLINE=0`` to allow downloads, say) is kept.

Code that imports a plugin's modules without loading plugins (a plugin's own
tests, a script) calls :func:`set_offline_defaults` first.
"""

from __future__ import annotations

import os

#: Environment variable -> the value that keeps its library offline or quiet.
OFFLINE_DEFAULTS: dict[str, str] = {
    # huggingface_hub, transformers and datasets (lm-eval loads its tasks through
    # datasets, which otherwise pings a usage counter); read at their import.
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # tokenizers: no worker threads to warn about after a fork (multiprocessing workers).
    "TOKENIZERS_PARALLELISM": "false",
    # onnxruntime's native telemetry only honours this if set before its import.
    "ORT_DISABLE_TELEMETRY": "1",
    # evidently's usage telemetry (evidently/telemetry.py) is on unless this is set.
    "DO_NOT_TRACK": "1",
    # tldextract (presidio's e-mail and URL recognizers): an empty list of suffix-list
    # URLs disables every download; its module-level extractor reads this at import.
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    # ray (lmops-ray): its usage statistics are opt-out; read when a cluster starts.
    "RAY_USAGE_STATS_ENABLED": "0",
}


def set_offline_defaults() -> dict[str, str]:
    """Set each offline switch the user has not set; return the ones this call set."""
    applied: dict[str, str] = {}
    for name, value in OFFLINE_DEFAULTS.items():
        if name not in os.environ:
            os.environ[name] = value
            applied[name] = value
    return applied
