"""An lm-eval ``LM`` that scores and generates with ONNX Runtime.

Tokenisation and context/continuation splitting come from lm-eval's own
``TemplateLM``, so an ONNX export is scored exactly the way ``HFLM`` scores the
torch model it came from; only the forward pass differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np
from lm_eval import utils as lm_utils
from lm_eval.api.instance import Instance
from lm_eval.api.model import TemplateLM


class OrtCausalModel(Protocol):
    """What :class:`OrtLM` needs from an ONNX Runtime model (ours or lmops-onnx's)."""

    def logits(self, ids: np.ndarray) -> np.ndarray: ...

    def generate_ids(
        self, ids: Any, max_new_tokens: int, *args: Any, **kw: Any
    ) -> Iterator[int]: ...


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class OrtLM(TemplateLM):
    """lm-eval language model over an ONNX Runtime causal LM and its tokenizer."""

    def __init__(
        self,
        model: OrtCausalModel,
        tokenizer: Any,
        *,
        batch_size: int = 1,
        max_length: int = 2048,
        generate: Callable[[list[int], int], Iterator[int]] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = max(1, batch_size)
        self.max_length = max_length
        # Greedy token source for generate_until; defaults to the model's own.
        self._generate = generate or (lambda ids, n: model.generate_ids(ids, n))

    @property
    def eot_token_id(self) -> int:
        """End-of-text token id (the tokenizer's EOS)."""
        return int(self.tokenizer.eos_token_id)

    @property
    def prefix_token_id(self) -> int:
        """Token that stands for an empty context: BOS if any, else EOS (as HFLM does)."""
        bos = self.tokenizer.bos_token_id
        return int(bos) if bos is not None else self.eot_token_id

    @property
    def tokenizer_name(self) -> str:
        """Name lm-eval uses to key cached chat-templated requests."""
        return str(getattr(self.tokenizer, "name_or_path", "") or "ort-tokenizer").replace(
            "/", "__"
        )

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        """The chat as one prompt string, through the tokenizer's template (as HFLM does)."""
        return str(
            self.tokenizer.apply_chat_template(
                chat_history,
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
                continue_final_message=not add_generation_prompt,
            )
        )

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, **kwargs: Any
    ) -> list[int]:
        """Token ids of ``string``; special tokens follow the tokenizer unless told."""
        if add_special_tokens is None:
            return list(self.tokenizer.encode(string))
        return list(self.tokenizer.encode(string, add_special_tokens=add_special_tokens))

    def _score(self, seqs: list[tuple[list[int], int]]) -> list[tuple[float, bool]]:
        """Log-prob and greediness of the last ``n`` tokens of each (tokens, n) pair."""
        out: list[tuple[float, bool]] = []
        for start in range(0, len(seqs), self.batch_size):
            chunk = seqs[start : start + self.batch_size]
            inputs = [toks[:-1] for toks, _ in chunk]
            width = max(len(x) for x in inputs)
            # Right padding is harmless for a causal LM: positions we read never see it.
            batch = np.full((len(inputs), width), self.eot_token_id, dtype=np.int64)
            for i, row in enumerate(inputs):
                batch[i, : len(row)] = row
            logp = _log_softmax(self.model.logits(batch))
            for i, (toks, n) in enumerate(chunk):
                length = len(toks) - 1
                rows = logp[i, length - n : length]
                targets = np.asarray(toks[-n:])
                total = float(rows[np.arange(n), targets].sum())
                greedy = bool((rows.argmax(axis=-1) == targets).all())
                out.append((total, greedy))
        return out

    def _loglikelihood_tokens(
        self, requests: list[tuple[tuple[str, str], list[int], list[int]]], **kwargs: Any
    ) -> list[tuple[float, bool]]:
        """Score continuations given contexts, truncating contexts from the left."""
        seqs = []
        for _, ctx, cont in requests:
            toks = (ctx + cont)[-(self.max_length + 1) :]
            seqs.append((toks, len(cont)))
        results = self._score(seqs)
        for (key, _, _), res in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", key, res)
        return results

    def loglikelihood_rolling(
        self, requests: list[Instance], disable_tqdm: bool = False
    ) -> list[float]:
        """Whole-string log-likelihood over lm-eval's disjoint rolling windows."""
        results = []
        for (string,) in [req.args for req in requests]:
            windows = [
                lm_utils.make_disjoint_window(w)
                for w in lm_utils.get_rolling_token_windows(
                    token_list=self.tok_encode(string),
                    prefix_token=self.prefix_token_id,
                    max_seq_len=self.max_length,
                    context_len=1,
                )
            ]
            scored = self._score([(ctx + cont, len(cont)) for ctx, cont in windows])
            total = sum(s for s, _ in scored)
            self.cache_hook.add_partial("loglikelihood_rolling", (string,), total)
            results.append(total)
        return results

    def generate_until(self, requests: list[Instance], disable_tqdm: bool = False) -> list[str]:
        """Greedy generation cut at the first stop string (``until``) or ``max_gen_toks``."""
        results = []
        for context, gen_kwargs in [req.args for req in requests]:
            kwargs = dict(gen_kwargs or {})
            until = kwargs.get("until") or []
            if isinstance(until, str):
                until = [until]
            max_new = int(kwargs.get("max_gen_toks", 256))
            text = self._generate_text(context, list(until), max_new)
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
            results.append(text)
        return results

    def _generate_text(self, context: str, until: Sequence[str], max_new: int) -> str:
        ids = self.tok_encode(context)[-self.max_length :]
        produced: list[int] = []
        text = ""
        for tok in self._generate(ids, max_new):
            if tok == self.eot_token_id:
                break
            produced.append(tok)
            text = self.tokenizer.decode(produced, skip_special_tokens=True)
            if any(stop in text for stop in until):
                break
        for stop in until:
            if stop and stop in text:
                text = text.split(stop)[0]
        return text
