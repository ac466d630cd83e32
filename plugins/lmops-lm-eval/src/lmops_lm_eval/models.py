"""Load a registered model version for evaluation, on torch or ONNX Runtime.

Every model is opened through the core, ``context.load_model(role)``, by the
runtime some plugin registers for its kind (lmops-hf: base, merged, full,
adapter with its base; lmops-onnx: onnx, onnx-int8), and evaluated on the
engine's own model object (its ``native``). A kind no runtime opens is refused,
naming it. The result offers an lm-eval ``LM`` and a token-by-token text stream.
"""

from __future__ import annotations

import copy
import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any, Literal

from lmops_core.contracts import InputAsset, StageContext
from lmops_core.errors import StageError
from lmops_core.weights import refuse_pickle

# Formats that cannot smuggle pickle into a load (ORT and safetensors parse, never unpickle).
_SKIP_SUFFIXES = {".json", ".txt", ".md", ".jinja", ".onnx", ".data", ".safetensors", ".yaml"}

Runtime = Literal["torch", "onnxruntime"]


def _refuse_pickles(folder: Path) -> None:
    # Content, not names, decides: a renamed pickle is still refused.
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix not in _SKIP_SUFFIXES:
            refuse_pickle(path)


def _folder(asset: InputAsset) -> Path:
    if asset.path is None or not asset.path.is_dir():
        raise StageError(
            f'input "{asset.role}" ({asset.ref}) is not a model folder on disk: {asset.path}'
        )
    return asset.path


def _load_tokenizer(*folders: Path) -> Any:
    from transformers import AutoTokenizer

    for folder in folders:
        if (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file():
            tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            if tok.pad_token_id is None:
                tok.pad_token = tok.eos_token
            return tok
    raise StageError(f"no tokenizer files in {', '.join(str(f) for f in folders)}")


def progress_bars_off() -> bool:
    """True when tqdm's own switch, ``TQDM_DISABLE``, is set (``lmops`` sets it unless verbose)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")


def _without_bars(lm: Any) -> None:
    """Bind ``disable_tqdm=True`` to the request methods lm-eval calls on ``lm``.

    lm-eval calls them without that argument and passes ``disable=False`` to tqdm
    itself, which overrides ``TQDM_DISABLE``; the step's own progress display is
    what a reader should see.
    """
    for name in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
        setattr(lm, name, functools.partial(getattr(lm, name), disable_tqdm=True))


@dataclass
class LoadedModel:
    """A model ready to evaluate: its runtime, tokenizer and the loaded object."""

    runtime: Runtime
    kind: str
    tokenizer: Any
    model: Any
    loader: str
    _lms: dict[int, Any] = field(default_factory=dict, repr=False)

    def lm(self, *, batch_size: int = 1) -> Any:
        """An lm-eval ``LM`` over this model (``HFLM`` for torch, :class:`OrtLM` for ORT).

        One wrapper per batch size is kept: building ``HFLM`` is not free.
        """
        if batch_size in self._lms:
            return self._lms[batch_size]
        if self.runtime == "torch":
            from lm_eval.models.huggingface import HFLM

            lm: Any = HFLM(
                pretrained=self.model,
                tokenizer=self.tokenizer,
                device="cpu",
                batch_size=batch_size,
            )
        else:
            from lmops_lm_eval.ort_lm import OrtLM

            lm = OrtLM(self.model, self.tokenizer, batch_size=batch_size)
        if progress_bars_off():
            _without_bars(lm)
        self._lms[batch_size] = lm
        return lm

    def prompt_ids(self, prompt: str, *, chat: bool = True) -> list[int]:
        """Token ids for ``prompt``: as a user turn through the chat template when asked
        and the tokenizer has one (as lmops-hf and lmops-onnx generate), else raw text."""
        if chat and getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
            )
            return list(self.tokenizer.encode(str(text), add_special_tokens=False))
        return list(self.tokenizer.encode(prompt))

    def token_pieces(
        self,
        prompt: str,
        *,
        max_new_tokens: int,
        ignore_eos: bool = False,
        chat: bool = True,
        decoder: IncrementalDecoder | None = None,
    ) -> Iterator[str]:
        """Greedy continuation of ``prompt``: exactly one text piece per generated token.

        A piece is empty while a multi-byte character is incomplete. With
        ``ignore_eos`` the model makes exactly ``max_new_tokens`` tokens, end of
        sequence included (as serving benchmarks do), on both runtimes.
        """
        ids = self.prompt_ids(prompt, chat=chat)
        if self.runtime == "torch":
            token_iter = _torch_token_ids(self.model, ids, max_new_tokens, ignore_eos)
        else:
            # Without an eos id both ONNX runners decode exactly max_new_tokens tokens.
            token_iter = self.model.generate_ids(ids, max_new_tokens)
        eos = self.tokenizer.eos_token_id
        dec = decoder if decoder is not None else IncrementalDecoder(self.tokenizer)
        for tok in token_iter:
            if tok == eos and not ignore_eos:
                return
            yield dec.push(tok)

    def stream(
        self, prompt: str, *, max_new_tokens: int, ignore_eos: bool = False, chat: bool = True
    ) -> Iterator[str]:
        """Like :meth:`token_pieces`, skipping empty pieces, ending with any held-back text;
        the pieces join to the decoded continuation."""
        dec = IncrementalDecoder(self.tokenizer)
        for piece in self.token_pieces(
            prompt, max_new_tokens=max_new_tokens, ignore_eos=ignore_eos, chat=chat, decoder=dec
        ):
            if piece:
                yield piece
        if rest := dec.flush():
            yield rest

    def generate(self, prompt: str, *, max_new_tokens: int, chat: bool = True) -> str:
        """Greedy continuation of ``prompt`` as one string."""
        return "".join(self.stream(prompt, max_new_tokens=max_new_tokens, chat=chat))


class IncrementalDecoder:
    """Turns token ids into text pieces, holding back an incomplete multi-byte character."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.emitted = ""

    def push(self, token: int) -> str:
        """The new text that ``token`` completes ("" while a character is incomplete)."""
        self.ids.append(int(token))
        text = str(self.tokenizer.decode(self.ids, skip_special_tokens=True))
        if text.endswith("\ufffd") or not text.startswith(self.emitted):
            return ""
        piece, self.emitted = text[len(self.emitted) :], text
        return piece

    def flush(self) -> str:
        """Whatever was held back (text that never became a complete character)."""
        text = str(self.tokenizer.decode(self.ids, skip_special_tokens=True))
        if text.startswith(self.emitted):
            rest, self.emitted = text[len(self.emitted) :], text
            return rest
        return ""


_DONE = object()


def _torch_token_ids(
    model: Any, ids: list[int], max_new_tokens: int, ignore_eos: bool
) -> Iterator[int]:
    """Token ids from ``model.generate`` as they are produced, via a streamer queue."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    queue: Queue[Any] = Queue()

    class _IdStreamer(BaseStreamer):  # type: ignore[misc]
        def __init__(self) -> None:
            self.prompt_seen = False

        def put(self, value: Any) -> None:
            if not self.prompt_seen:  # generate() first hands over the prompt itself
                self.prompt_seen = True
                return
            for tok in value.reshape(-1).tolist():
                queue.put(int(tok))

        def end(self) -> None:
            queue.put(_DONE)

    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens = max_new_tokens
    config.do_sample = False
    # Greedy: neutralise sampling knobs a generation_config may carry.
    config.temperature = config.top_k = config.top_p = None
    config.pad_token_id = config.pad_token_id if config.pad_token_id is not None else 0
    if ignore_eos:
        config.eos_token_id = None  # keep going past an end of sequence

    def _run() -> None:
        try:
            with torch.no_grad():
                model.generate(
                    input_ids=torch.tensor([ids]),
                    attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    generation_config=config,
                    streamer=_IdStreamer(),
                )
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread, re-raised
            queue.put(exc)
            queue.put(_DONE)

    worker = threading.Thread(target=_run, daemon=True)
    worker.start()
    while (item := queue.get()) is not _DONE:
        if isinstance(item, BaseException):
            raise StageError(f"torch generation failed: {item}") from item
        yield item
    worker.join()


def _engine_object(opened: Any, kind: str) -> tuple[Runtime, Any]:
    native = getattr(opened, "native", None)
    engines: dict[str, Runtime] = {"transformers": "torch", "onnxruntime": "onnxruntime"}
    if native is None or opened.engine not in engines:
        raise StageError(
            f'model kind "{kind}": lm-eval needs a transformers or ONNX '
            f"Runtime model object (native), the runtime gave {opened.engine}"
        )
    return engines[opened.engine], native


def load_role(context: StageContext, role: str, *, base_role: str = "base") -> LoadedModel:
    """Load the model bound to ``role`` through the core (an adapter with ``base_role``).

    Pickle content is refused in every folder first; the runtime registered for
    the kind opens the model, and a kind no runtime opens fails naming it.
    """
    asset = context.input(role)
    if asset.asset_type != "model":
        raise StageError(f'input "{role}" ({asset.ref}) is a {asset.asset_type}, not a model')
    folder = _folder(asset)
    runtime = context.model_runtime(asset.kind)
    if runtime.needs_base:
        if base_role not in context.inputs:
            raise StageError(
                f'input "{role}" ({asset.ref}) is an adapter: pass its base model '
                f'under role "{base_role}"'
            )
        _refuse_pickles(_folder(context.inputs[base_role]))
    _refuse_pickles(folder)
    opened = context.load_model(role, base_role=base_role)
    engine, native = _engine_object(opened, asset.kind)
    # lm-eval pads batches: its own tokenizer settings (pad = eos when missing) for ORT.
    tok = opened.tokenizer if engine == "torch" else _load_tokenizer(folder)
    return LoadedModel(
        engine, asset.kind, tok, native, f"{type(native).__module__}.{type(native).__qualname__}"
    )
