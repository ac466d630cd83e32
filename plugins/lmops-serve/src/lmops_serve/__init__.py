"""lmops-serve: a guarded inference service over a verified deployment bundle.

``create_app(bundle)`` verifies the bundle with the core's ``load_bundle``
before anything is loaded, then serves it with FastAPI: PII guard on input and
output (lmops-presidio), refusal of harmful request categories, per-request
metrics and a redacted JSONL inference log. Importing the package sets the
offline switches of the Hugging Face and ONNX Runtime libraries.
"""

from __future__ import annotations

import os

# Set before transformers / onnxruntime are imported through us: both read them at import.
for _name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
              "HF_HUB_DISABLE_TELEMETRY", "ORT_DISABLE_TELEMETRY"):
    os.environ.setdefault(_name, "1")

__version__ = "0.1.0"
