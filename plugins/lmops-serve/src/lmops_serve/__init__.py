"""lmops-serve: a guarded inference service over a verified deployment bundle.

``create_app(bundle)`` verifies the bundle with the core's ``load_bundle``
before anything is loaded, then serves it with FastAPI: PII guard on input and
output (lmops-presidio), refusal of harmful request categories, per-request
metrics and a redacted JSONL inference log. Importing the package sets the
offline switches of the Hugging Face and ONNX Runtime libraries.
"""

from __future__ import annotations

from lmops_core.offline import set_offline_defaults

# Set before transformers / onnxruntime are imported through us: both read them at import.
set_offline_defaults()

__version__ = "0.1.0"
