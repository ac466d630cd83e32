"""lmops-onnx: export models to ONNX, quantize them to int8, and run them with ONNX Runtime.

Heavy libraries (torch, transformers, onnxruntime) are imported lazily inside
functions, so loading the plugin costs little. ONNX Runtime's telemetry switch
(``ORT_DISABLE_TELEMETRY``, honoured only if set before its import) and the
Hugging Face offline switches are set by the core before it imports any plugin
(:mod:`lmops_core.offline`).
"""
