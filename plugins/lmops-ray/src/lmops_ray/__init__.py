"""lmops-ray: data-preparation steps run on a Ray cluster (Ray Data pipelines, Ray actors).

Registers the ``ray`` data engine. A step runs on it when a step is given
``-p engine=ray`` or when ``LMOPS_RAY_ADDRESS`` names a cluster; the step's
per-record work runs in Ray workers (a Ray Data pipeline over a partitioned
input, whose rows the workers read; a pool of actors for a JSONL file), its
decisions (which duplicate comes first) in the caller, so the output and evidence are those of the local
engine, byte for byte. Ray is imported when the engine connects, never when
the plugin loads.
"""

from __future__ import annotations

__version__ = "0.1.0"
