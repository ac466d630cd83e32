"""Running an exported causal LM with ONNX Runtime: logits, token streaming, text generation.

Other plugins reach these through the core's model runtimes. The graph has no KV cache,
so each new token re-runs the whole (windowed) sequence: simple and exact,
at a cost that grows with the length of the text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lmops_core.errors import ValidationError
from lmops_core.runtimes import GenerationOptions, generation_options
from lmops_onnx.export import load_tokenizer, read_manifest
from lmops_onnx.safety import MODEL_FILE, check_onnx_folder

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def session_options(*, threads: int | None = None) -> Any:
    """ORT session options used everywhere in lmops-onnx.

    Spinning is switched off: idle ORT threads otherwise busy-wait after each
    run and steal the CPU from everything else in the process (the tokenizer,
    a torch model measured alongside, a web server).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ValidationError(f"threads must be a positive integer, got {threads!r}")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


class OrtCausalLM:
    """An exported causal LM (``input_ids -> logits``) loaded in an ONNX Runtime session."""

    def __init__(self, session: Any, manifest: dict[str, Any], folder: Path) -> None:
        self.session = session
        self.manifest = manifest
        self.folder = folder
        self.input_name: str = manifest["inputs"][0]["name"]
        self.output_name: str = manifest["outputs"][0]["name"]
        vocab = manifest.get("vocab_size")
        self.vocab_size: int | None = int(vocab) if isinstance(vocab, int) else None
        window = manifest.get("max_positions")
        self.max_positions: int | None = int(window) if isinstance(window, int) else None

    @classmethod
    def from_folder(cls, path: Path, *, threads: int | None = None) -> OrtCausalLM:
        """Check the folder (external data locations, pickles) and open it with ONNX Runtime."""
        folder = Path(path)
        manifest = read_manifest(folder)
        model_file = manifest.get("model_file", MODEL_FILE)
        if not isinstance(model_file, str):
            raise ValidationError(f'{folder}: field "model_file" of the manifest must be a string')
        model_path, _ = check_onnx_folder(folder, model_file)
        import onnxruntime as ort

        session = ort.InferenceSession(
            str(model_path),
            sess_options=session_options(threads=threads),
            providers=["CPUExecutionProvider"],
        )
        return cls(session, manifest, folder)

    def logits(self, input_ids: np.ndarray) -> np.ndarray:
        """Full-sequence logits, shape (batch, sequence, vocab), for int ids of shape (batch, sequence)."""
        ids = np.asarray(input_ids)
        if ids.ndim != 2 or ids.shape[1] == 0:
            raise ValidationError(
                f"input_ids must have shape (batch, sequence) with sequence >= 1, got {ids.shape}"
            )
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValidationError(f"input_ids must hold integers, got dtype {ids.dtype}")
        if self.vocab_size is not None and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValidationError(f"input_ids must lie in [0, {self.vocab_size})")
        result = self.session.run([self.output_name], {self.input_name: ids.astype(np.int64)})
        logits: np.ndarray = result[0]
        return logits

    def generate_ids(
        self,
        input_ids: Sequence[int],
        max_new_tokens: int,
        *,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        eos_token_id: int | Sequence[int] | None = None,
    ) -> Iterator[int]:
        """Yield new token ids one at a time (greedy, or sampled when ``do_sample``).

        Stops after ``max_new_tokens`` or when an end-of-sequence id is produced;
        that id is not yielded. Sampling with the same ``seed`` repeats exactly.
        """
        ids = [int(t) for t in input_ids]
        if not ids:
            raise ValidationError("input_ids must hold at least one token")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValidationError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
        if do_sample and not temperature > 0:
            raise ValidationError(f"temperature must be > 0 when sampling, got {temperature!r}")
        if not isinstance(top_k, int) or top_k < 0:
            raise ValidationError(f"top_k must be an integer >= 0, got {top_k!r}")
        stop = _as_id_set(eos_token_id)
        rng = np.random.default_rng(seed)
        for _ in range(max_new_tokens):
            window = ids if self.max_positions is None else ids[-self.max_positions :]
            last = self.logits(np.asarray([window], dtype=np.int64))[0, -1]
            token = _choose(
                last, do_sample=do_sample, temperature=temperature, top_k=top_k, rng=rng
            )
            if token in stop:
                return
            ids.append(token)
            yield token


def _as_id_set(eos_token_id: int | Sequence[int] | None) -> set[int]:
    if eos_token_id is None:
        return set()
    if isinstance(eos_token_id, int):
        return {eos_token_id}
    return {int(t) for t in eos_token_id}


def _choose(
    logits: np.ndarray,
    *,
    do_sample: bool,
    temperature: float,
    top_k: int,
    rng: np.random.Generator,
) -> int:
    if not do_sample:
        return int(np.argmax(logits))
    scores = logits.astype(np.float64) / temperature
    if 0 < top_k < scores.shape[0]:
        cutoff = np.partition(scores, -top_k)[-top_k]
        scores = np.where(scores >= cutoff, scores, -np.inf)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    return int(rng.choice(probs.shape[0], p=probs))


class OrtGenerator:
    """Text in, text out over an exported model folder, with its own tokenizer.

    A :class:`lmops_core.runtimes.LoadedModel`; lmops-onnx registers it as the
    runtime of the ONNX kinds, so other plugins never import it.
    """

    engine = "onnxruntime"

    def __init__(self, folder: Path, *, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.model = OrtCausalLM.from_folder(self.folder, threads=threads)
        self.tokenizer: PreTrainedTokenizerBase = load_tokenizer(self.folder)

    @property
    def native(self) -> OrtCausalLM:
        """The :class:`OrtCausalLM` itself (``logits``, ``generate_ids``), for lm-eval."""
        return self.model

    @property
    def eos_token_id(self) -> int | None:
        """The tokenizer's end-of-sequence id, where it has one."""
        value = self.tokenizer.eos_token_id
        return int(value) if isinstance(value, int) else None

    def encode_prompt(self, prompt: str) -> list[int]:
        """Token ids for a user prompt, through the chat template when the tokenizer has one."""
        if not isinstance(prompt, str):
            raise ValidationError(f"prompt must be a string, got {type(prompt).__name__}")
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            ids = self.tokenizer(str(text), add_special_tokens=False)["input_ids"]
        else:
            ids = self.tokenizer(prompt)["input_ids"]
        if not ids:
            raise ValidationError("the prompt encodes to no tokens")
        return [int(t) for t in ids]

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def stream(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> Iterator[str]:
        """Yield the completion as text pieces, as soon as each piece is decodable."""
        chosen = generation_options(options, **legacy)
        generated: list[int] = []
        emitted = ""
        for token in self.model.generate_ids(
            self.encode_prompt(prompt),
            chosen.max_new_tokens,
            do_sample=chosen.do_sample,
            temperature=chosen.temperature,
            top_k=chosen.top_k,
            seed=chosen.seed,
            eos_token_id=self.eos_token_id,
        ):
            generated.append(token)
            text = self._decode(generated)
            # Hold back pieces that end inside a multi-byte character or that a later
            # token rewrites (byte-level BPE): emit only a stable, growing prefix.
            if text.endswith("\ufffd") or not text.startswith(emitted):
                continue
            if len(text) > len(emitted):
                yield text[len(emitted) :]
                emitted = text
        final = self._decode(generated)
        if final.startswith(emitted) and len(final) > len(emitted):
            yield final[len(emitted) :]

    def generate(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> str:
        """The whole completion as one string (the streamed pieces joined)."""
        return "".join(self.stream(prompt, options, **legacy))
