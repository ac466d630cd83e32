"""Streaming serving-performance evidence on torch and ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from lmops_lm_eval.models import LoadedModel
from lmops_lm_eval.serving_perf import ServingPerfEvaluator, time_stream

from lmops_core.errors import ValidationError


def _check(ev: Any, *, runtime: str, requests: int, max_new: int, concurrency: int) -> None:
    m = ev.metrics
    assert ev.kind == "serving_perf" and ev.subject == "model"
    assert m["runtime"] == runtime
    assert m["requests"] == requests and m["concurrency"] == concurrency
    assert m["tokens"] == requests * max_new  # ignore_eos: every request makes max_new tokens
    for name in (
        "ttft_ms_p50",
        "ttft_ms_p95",
        "itl_ms_p50",
        "tokens_per_s",
        "latency_ms_p50",
        "latency_ms_p95",
    ):
        assert m[name] > 0, name
    assert m["ttft_ms_p50"] <= m["ttft_ms_p95"]
    assert m["latency_ms_p50"] <= m["latency_ms_p95"]
    assert m["ttft_ms_p50"] <= m["latency_ms_p50"]
    assert m["ttft_ms_p95"] <= m["latency_ms_p95"]
    for row in ev.details["per_request"]:
        assert 0 < row["ttft_ms"] <= row["latency_ms"]
        assert row["tokens"] == max_new


@pytest.mark.parametrize(
    ("model_fixture", "kind", "runtime", "params"),
    [
        ("tiny_model", "base", "torch", {"concurrency": 2, "requests": 4, "max_new_tokens": 6}),
        (
            "tiny_onnx",
            "onnx",
            "onnxruntime",
            {"concurrency": 3, "requests": 3, "max_new_tokens": 5, "prompts": ["Hello", "你好"]},
        ),
    ],
)
def test_streaming_metrics(
    request: pytest.FixtureRequest,
    make_context: Any,
    model_input: Any,
    tmp_path: Path,
    model_fixture: str,
    kind: str,
    runtime: str,
    params: dict[str, Any],
) -> None:
    folder = request.getfixturevalue(model_fixture)
    ctx = make_context(tmp_path, {"model": model_input(folder, kind)}, params, "serving-perf")
    (ev,) = ServingPerfEvaluator().run(ctx).evidence
    _check(
        ev,
        runtime=runtime,
        requests=params["requests"],
        max_new=params["max_new_tokens"],
        concurrency=params["concurrency"],
    )


def test_stream_pieces_join_to_the_full_text(
    torch_and_onnx: tuple[LoadedModel, LoadedModel],
) -> None:
    torch_model, ort_model = torch_and_onnx
    for prompt in ("法国的首都是哪里？", "What is 3 + 4?"):
        pieces = list(torch_model.token_pieces(prompt, max_new_tokens=8, ignore_eos=True))
        assert len(pieces) == 8  # one piece per token, even past an end of sequence
        text = torch_model.generate(prompt, max_new_tokens=8)
        assert "".join(torch_model.stream(prompt, max_new_tokens=8)) == text
        ids = torch_model.prompt_ids(prompt)
        assert ids == ort_model.prompt_ids(prompt)  # both through the chat template
        full = torch_model.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=8,
            do_sample=False,
            eos_token_id=None,
        )
        new = full[0, len(ids) :].tolist()
        # The per-token pieces are the decoded greedy tokens (an unfinished character held back).
        assert torch_model.tokenizer.decode(new, skip_special_tokens=True).startswith(
            "".join(pieces)
        )
        # Same greedy tokens on ONNX Runtime.
        assert ort_model.generate(prompt, max_new_tokens=8) == text
    timing = time_stream(torch_model, "Hi", max_new_tokens=4, ignore_eos=True)
    assert timing.tokens == 4 and len(timing.gaps) == 3 and timing.ttft <= timing.latency


def test_bad_concurrency_is_named(
    make_context: Any, model_input: Any, tiny_model: Path, tmp_path: Path
) -> None:
    ctx = make_context(
        tmp_path, {"model": model_input(tiny_model)}, {"concurrency": 0}, "serving-perf"
    )
    with pytest.raises(ValidationError, match='parameter "concurrency"'):
        ServingPerfEvaluator().run(ctx)
