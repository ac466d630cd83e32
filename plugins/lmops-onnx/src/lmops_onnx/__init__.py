"""lmops-onnx: export models to ONNX, quantize them to int8, and run them with ONNX Runtime.

Heavy libraries (torch, transformers, onnxruntime) are imported lazily inside
functions, so loading the plugin costs little; the offline switches are set
here and again before each lazy import.
"""

from lmops_onnx._env import set_offline_environment

set_offline_environment()

__all__ = ["set_offline_environment"]
