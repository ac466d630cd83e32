"""The shap explainer end to end on a real tiny transformers model, through Operation.run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lmops_shap.explainer import EXPLANATION_EVIDENCE, ShapExplainer

from lmops_core.contracts import InputAsset, NullProgress, Stage, StageContext
from lmops_core.errors import PluginError, StageError, ValidationError
from lmops_core.testing import dataset_input, model_input

EMAIL = "alice.martin@example.com"
PROMPTS = ["Why is the sky blue?", f"Please email {EMAIL} about the meeting.", "法国的首都是哪里？"]


def _context(
    tmp_path: Path,
    inputs: dict[str, InputAsset],
    params: dict,
    *,
    seed: int = 7,
    progress: object | None = None,
) -> StageContext:
    return StageContext(
        stage=Stage.EXPLAINABILITY,
        operation="shap",
        inputs=inputs,
        params={"max_evals": 24, "max_new_tokens": 3, "threads": 1, **params},
        workdir=tmp_path / "work",
        actor="tester",
        run_id="run-shap",
        seed=seed,
        progress=progress or NullProgress(),  # type: ignore[arg-type]
    )


class RecordingProgress:
    """Collects progress calls so the test can check the explainer reports them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, description: str, total: float | None = None) -> None:
        self.calls.append(f"start:{total}")

    def advance(self, amount: float = 1.0, **fields: object) -> None:
        self.calls.append("advance")

    def finish(self) -> None:
        self.calls.append("finish")


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    tmp = tmp_path_factory.mktemp("explained")
    progress = RecordingProgress()
    result = ShapExplainer().run(
        _context(
            tmp,
            {"model": model_input(tiny_model)},
            {"prompts": PROMPTS, "top_k": 3},
            progress=progress,
        )
    )
    return result, progress


def test_report_is_one_self_contained_html_file_with_shap_markup(explained) -> None:
    result, _ = explained
    [evidence] = result.evidence
    report = evidence.artifacts["report.html"]
    assert report.is_file() and report.name == "shap_report.html"
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # shap.plots.text's own markup: one interactive plot per prompt.
    assert page.count("_tp_") >= len(PROMPTS) and "onclick=" in page and "<svg" in page
    assert "http://" not in page and "https://" not in page


def test_one_attribution_per_prompt_token_from_the_masker(explained, tiny_model: Path) -> None:
    import shap
    from transformers import AutoTokenizer

    result, _ = explained
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    masker = shap.maskers.Text(tokenizer)
    dump = json.loads(result.evidence[0].artifacts["attributions.json"].read_text())
    assert len(dump) == len(PROMPTS)
    for prompt, row in zip(PROMPTS, dump, strict=True):
        expected = len(masker.feature_names(prompt)[0])
        assert expected == len(tokenizer(prompt)["input_ids"])
        assert len(row["values"]) == len(row["tokens"]) == expected
        # SHAP's efficiency property: values add up to f(prompt) - f(all masked).
        assert sum(row["values"]) == pytest.approx(row["log_prob"] - row["base_value"], abs=1e-3)


def test_evidence_summarises_top_tokens_and_never_shows_raw_pii(explained) -> None:
    result, progress = explained
    [evidence] = result.evidence
    assert evidence.kind == EXPLANATION_EVIDENCE.name and evidence.subject == "model"
    for name in EXPLANATION_EVIDENCE.metrics:
        assert name in evidence.metrics, name
    assert evidence.metrics["prompts"] == 3 and evidence.metrics["redacted"] is True
    assert evidence.metrics["mean_abs_attribution"] > 0
    assert evidence.metrics["seconds_per_prompt"] > 0
    summaries = evidence.details["prompts"]
    assert [len(s["top_tokens"]) for s in summaries] == [3, 3, 3]
    values = [abs(t["value"]) for t in summaries[0]["top_tokens"]]
    assert values == sorted(values, reverse=True)
    assert "<EMAIL_ADDRESS>" in summaries[1]["prompt_redacted"]
    everything = json.dumps(dict(evidence.details), ensure_ascii=False)
    for artifact in evidence.artifacts.values():
        everything += artifact.read_text(encoding="utf-8")
    assert EMAIL not in everything and "alice.martin" not in everything
    assert progress.calls == ["start:3", "advance", "advance", "advance", "finish"]


def test_same_seed_same_attributions_other_seed_differs(tmp_path: Path, tiny_model: Path) -> None:
    def values(seed: int, where: str) -> list:
        ctx = _context(
            tmp_path / where,
            {"model": model_input(tiny_model)},
            {"prompts": PROMPTS[:1], "algorithm": "permutation", "max_evals": 40},
            seed=seed,
        )
        return json.loads(
            ShapExplainer().run(ctx).evidence[0].artifacts["attributions.json"].read_text()
        )[0]["values"]

    first = values(1, "a")
    assert values(1, "b") == first
    assert values(2, "c") != first


def test_prompts_from_an_instruction_dataset(tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(
        "\n".join(json.dumps({"prompt": p, "response": "ok"}) for p in PROMPTS) + "\n",
        encoding="utf-8",
    )
    dataset = dataset_input(data, shape="instruction", ref="qa@v1")
    result = ShapExplainer().run(
        _context(
            tmp_path, {"model": model_input(tiny_model), "dataset": dataset}, {"max_prompts": 2}
        )
    )
    assert result.evidence[0].metrics["prompts"] == 2


def test_adapter_is_explained_on_top_of_its_base(tmp_path: Path, tiny_model: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    adapter = tmp_path / "adapter"
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"]),
    )
    peft_model.save_pretrained(adapter, safe_serialization=True)
    result = ShapExplainer().run(
        _context(
            tmp_path,
            {
                "model": model_input(adapter, "adapter"),
                "base": model_input(tiny_model, "base", "base"),
            },
            {"prompts": PROMPTS[:1]},
        )
    )
    assert result.evidence[0].metrics["prompts"] == 1
    with pytest.raises(StageError, match='role "base"'):
        ShapExplainer().run(
            _context(tmp_path, {"model": model_input(adapter, "adapter")}, {"prompts": PROMPTS[:1]})
        )


def test_bad_dataset_line_names_file_line_and_field(tmp_path: Path, tiny_model: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(
        '{"prompt": "fine", "response": "ok"}\n{"response": "no prompt"}\n', encoding="utf-8"
    )
    dataset = dataset_input(data, shape="instruction", ref="qa@v2")
    with pytest.raises(ValidationError, match=r"qa@v2:2: prompt: missing required field"):
        ShapExplainer().run(
            _context(tmp_path, {"model": model_input(tiny_model), "dataset": dataset}, {})
        )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"prompts": PROMPTS, "method": "lime"}, 'unknown parameter "method"'),
        ({"prompts": "why?"}, 'parameter "prompts": Input should be a valid list'),
        ({"prompts": []}, 'parameter "prompts": List should have at least 1 item'),
        ({"prompts": ["ok", ""]}, 'parameter "prompts": String should have at least 1'),
        (
            {"prompts": PROMPTS, "algorithm": "exact"},
            "parameter \"algorithm\": Input should be 'partition' or 'permutation'",
        ),
        (
            {"prompts": PROMPTS, "max_evals": 2},
            'parameter "max_evals": Input should be greater than or equal to 8',
        ),
        ({"prompts": PROMPTS, "max_prompts": 2}, "more than max_prompts=2"),
        ({"prompts": PROMPTS, "threads": 0}, 'parameter "threads": Input should be greater'),
        ({}, 'pass parameter "prompts" or an input "dataset"'),
    ],
)
def test_invalid_params_name_the_param(
    tmp_path: Path, tiny_model: Path, params: dict, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ShapExplainer().run(_context(tmp_path, {"model": model_input(tiny_model)}, params))
    assert message in str(caught.value)


def test_onnx_models_are_refused_with_a_reason(tmp_path: Path, tiny_model: Path) -> None:
    # lmops-onnx's runtime generates but cannot score: refused before anything is loaded.
    with pytest.raises(PluginError, match=r'model kind "onnx" \(onnxruntime\) cannot score'):
        ShapExplainer().run(
            _context(tmp_path, {"model": model_input(tiny_model, "onnx")}, {"prompts": PROMPTS})
        )
