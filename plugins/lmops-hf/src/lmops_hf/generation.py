"""Loading any trained model folder, generating text from it and scoring answers.

``load_causal_lm`` opens base, merged and full folders directly and merges an
adapter into its base on the fly; ``TorchGenerator`` applies the chat template
and generates with ``model.generate``, whole or streamed token by token, and
scores continuations. Other plugins reach it only through the core
(``context.load_model(role)``): lmops-hf registers it as the runtime of the
torch model kinds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lmops_core.errors import ValidationError
from lmops_core.runtimes import GenerationOptions, generation_options
from lmops_hf import chat
from lmops_hf.loading import check_model_folder, load_base_model, load_tokenizer


def load_causal_lm(
    folder: Path, *, base: Path | None = None, allow_pickle: bool = False
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` for a model folder, in eval mode on CPU.

    A PEFT adapter folder (``adapter_config.json``) needs its ``base`` folder:
    the adapter is merged into it so callers get a plain causal LM. The
    tokenizer is the folder's own when it has one, else the base's.
    """
    folder = Path(folder)
    if (folder / "adapter_config.json").is_file():
        if base is None:
            raise ValidationError(
                f"{folder} is a PEFT adapter: pass its base model folder as base=", file=str(folder)
            )
        from peft import PeftModel

        check_model_folder(folder, allow_pickle=allow_pickle, role="adapter")
        base_model = load_base_model(Path(base), allow_pickle=allow_pickle, role="base")
        model = PeftModel.from_pretrained(base_model, str(folder)).merge_and_unload()
        tok_dir = folder if (folder / "tokenizer_config.json").is_file() else Path(base)
    else:
        model = load_base_model(folder, allow_pickle=allow_pickle, role="model")
        tok_dir = folder
    model.eval()
    return model, load_tokenizer(tok_dir)


class _TokenQueue:
    """A ``generate`` streamer that hands new token ids to another thread."""

    def __init__(self) -> None:
        self.queue: queue.Queue[list[int] | None] = queue.Queue()
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        # generate() first passes the prompt ids; only what follows is new text.
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.queue.put([int(t) for t in value.reshape(-1).tolist()])

    def end(self) -> None:
        self.queue.put(None)


class TorchGenerator:
    """Chat-templated generation and scoring with a transformers causal LM on CPU.

    A :class:`lmops_core.runtimes.ScoringModel`.
    """

    engine = "transformers"

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer

    @property
    def native(self) -> Any:
        """The transformers model itself, for libraries that drive it (lm-eval's HFLM)."""
        return self.model

    def greedy_ids(self, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
        """The ids generated greedily after ``prompt_ids`` (end token included if produced)."""
        import torch

        ids = torch.tensor([[int(i) for i in prompt_ids]])
        options = GenerationOptions(max_new_tokens=max_new_tokens)
        out = self._generate({"input_ids": ids, "attention_mask": torch.ones_like(ids)}, options)
        return [int(i) for i in out[0, ids.shape[1] :].tolist()]

    def continuation_log_probs(
        self, prompts: Sequence[Sequence[int]], continuation: Sequence[int]
    ) -> list[float]:
        """``log p(continuation | prompt)`` for each prompt, scored in one padded batch."""
        import torch

        answer_ids = [int(i) for i in continuation]
        if not answer_ids:
            raise ValidationError("continuation must hold at least one token")
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else 0
        rows = [[int(i) for i in p] + answer_ids for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            # Right padding: positions of real tokens stay 0..n-1 whatever the batch.
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        steps = torch.arange(len(answer_ids))
        answer = torch.tensor(answer_ids)
        out = []
        for i, prompt in enumerate(prompts):
            # The logits at position t predict token t+1.
            positions = len(prompt) - 1 + steps
            out.append(float(logprobs[i, positions, answer].sum()))
        return out

    def _inputs(self, prompt: str) -> Any:
        return self.tokenizer.apply_chat_template(
            chat.prompt_messages(prompt),
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
        )

    def _kwargs(self, options: GenerationOptions) -> dict[str, Any]:
        pad = self.tokenizer.pad_token_id
        kwargs: dict[str, Any] = {
            "max_new_tokens": options.max_new_tokens,
            "do_sample": options.do_sample,
            "eos_token_id": self.tokenizer.eos_token_id,
            "pad_token_id": pad if pad is not None else self.tokenizer.eos_token_id,
        }
        if options.do_sample:
            kwargs.update(temperature=options.temperature, top_k=options.top_k or None)
        else:
            # Neutralise sampling knobs a generation_config may carry, so greedy stays greedy.
            kwargs.update(temperature=None, top_k=None, top_p=None)
        return kwargs

    def _generate(self, inputs: Any, options: GenerationOptions, **extra: Any) -> Any:
        import torch

        # fork_rng keeps a seeded call from disturbing the caller's random state.
        with torch.random.fork_rng(), torch.no_grad():
            if options.seed is not None:
                torch.manual_seed(options.seed)
            return self.model.generate(**inputs, **self._kwargs(options), **extra)

    def generate(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> str:
        """The assistant's reply to ``prompt`` (greedy unless ``options.do_sample``)."""
        inputs = self._inputs(prompt)
        out = self._generate(inputs, generation_options(options, **legacy))
        new = out[0, inputs["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new, skip_special_tokens=True))

    def stream(
        self, prompt: str, options: GenerationOptions | int | None = None, **legacy: Any
    ) -> Iterator[str]:
        """Yield the reply as it is generated, one decoded piece per new token.

        A token that ends inside a multi-byte character (byte-level BPE splits
        Chinese characters) yields nothing until the character is complete (or
        generation ends); joining the pieces gives exactly :meth:`generate`'s text.
        """
        inputs = self._inputs(prompt)
        chosen = generation_options(options, **legacy)
        streamer = _TokenQueue()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self._generate(inputs, chosen, streamer=streamer)
            except BaseException as exc:  # re-raised in the consuming thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        ids: list[int] = []
        sent = ""
        while (chunk := streamer.queue.get()) is not None:
            ids.extend(chunk)
            text = str(self.tokenizer.decode(ids, skip_special_tokens=True))
            if text.endswith("\ufffd"):
                continue
            if len(text) > len(sent):
                yield text[len(sent) :]
                sent = text
        thread.join()
        if failure:
            raise failure[0]
        # Bytes that never completed a character still belong to the reply: flush them.
        text = str(self.tokenizer.decode(ids, skip_special_tokens=True))
        if len(text) > len(sent):
            yield text[len(sent) :]
