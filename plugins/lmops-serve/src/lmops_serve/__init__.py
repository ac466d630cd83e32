"""lmops-serve: a guarded inference service over a verified deployment bundle.

``create_app(bundle)`` verifies the bundle with the core's ``load_bundle``
before anything is loaded, then serves it with FastAPI: PII guard on input and
output (lmops-presidio), refusal of harmful request categories, per-request
metrics and a redacted JSONL inference log. The offline switches of the
Hugging Face and ONNX Runtime libraries are set by the core before it imports
any plugin (:mod:`lmops_core.offline`).
"""

from __future__ import annotations

__version__ = "0.1.0"
