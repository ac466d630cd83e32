"""A minimal ONNX Runtime causal LM, used when lmops-onnx is not installed.

It runs a ``model.onnx`` that maps ``input_ids`` (plus optional ``attention_mask``
and ``position_ids``) to ``logits`` of shape (batch, seq, vocab), recomputing
the whole sequence at each generated token (no KV cache). Exports that need
more inputs (``past_key_values.*``) are refused with the names they need;
lmops-onnx's ``OrtCausalLM`` serves those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from lmops_core.errors import StageError
from lmops_core.weights import refuse_pickle

_KNOWN_INPUTS = {"input_ids", "attention_mask", "position_ids"}


class OrtLogitsModel:
    """ONNX Runtime session over a causal LM exported to return full-sequence logits."""

    def __init__(self, model_path: Path) -> None:
        import onnxruntime as ort

        refuse_pickle(model_path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in self.session.get_inputs()]
        extra = sorted(set(names) - _KNOWN_INPUTS)
        if "input_ids" not in names or extra:
            raise StageError(
                f"{model_path}: this ONNX graph needs inputs {names}; the built-in runner feeds "
                f"only {sorted(_KNOWN_INPUTS)} (install lmops-onnx for graphs with a KV cache)",
                file=str(model_path),
            )
        self._inputs = set(names)

    @classmethod
    def from_folder(cls, folder: Path) -> OrtLogitsModel:
        """Open ``folder/model.onnx``."""
        path = folder / "model.onnx"
        if not path.is_file():
            raise StageError(f"{folder}: no model.onnx in this ONNX model folder", file=str(path))
        return cls(path)

    def logits(self, ids: np.ndarray) -> np.ndarray:
        """Logits (B, T, V) for int64 token ids (B, T); rows are never padded on the left."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        feed: dict[str, np.ndarray] = {"input_ids": ids}
        if "attention_mask" in self._inputs:
            feed["attention_mask"] = np.ones_like(ids)
        if "position_ids" in self._inputs:
            feed["position_ids"] = np.broadcast_to(np.arange(ids.shape[1]), ids.shape).copy()
        out = self.session.run(None, feed)[0]
        return np.asarray(out, dtype=np.float32)

    def generate_ids(
        self, ids: Sequence[int], max_new_tokens: int, eos_token_id: int | None = None
    ) -> Iterator[int]:
        """Greedy decoding, one token id at a time; stops at ``eos_token_id`` if given."""
        seq = list(ids)
        for _ in range(max_new_tokens):
            nxt = int(self.logits(np.asarray([seq]))[0, -1].argmax())
            yield nxt
            if eos_token_id is not None and nxt == eos_token_id:
                return
            seq.append(nxt)
