"""`lmops prompts create|optimise` and `lmops evidence list --paired` from the shell."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Shell
from tests.conftest import make_model_folder, write_jsonl
from tests.prompts.test_optimise import EVALUATOR


def test_create_optimise_and_list_paired_evidence(shell: Shell, tmp_path: Path) -> None:
    plugin = tmp_path / "length_eval.py"
    plugin.write_text(EVALUATOR)
    shell.env["LMOPS_PLUGINS"] = str(plugin)
    model = shell.json("models", "register", "chat", str(make_model_folder(tmp_path / "m")))["ref"]
    faq = write_jsonl(tmp_path / "faq.jsonl", [{"prompt": "hi", "response": "hello"}] * 3)
    shell.ok("datasets", "register", "faq", str(faq), "--shape", "instruction")
    base = shell.json(
        "prompts",
        "create",
        "support",
        "--template",
        "Customer: {message}",
        "--system-prompt",
        "Be kind.",
        "--target-model",
        model,
    )
    assert base["system_prompt"] == "Be kind." and base["target_model"] == model
    optimise = ("prompts", "optimise", base["ref"], "--evaluate", "prompt-length")
    length = ("--metric", "prompt_length.length")
    shots = ("--few-shot", "dataset:faq@1", "--shots", "2", "--seed", "1")
    result = shell.json(*optimise, *length, "--instruction", "Answer in one sentence.", *shots)
    assert [t["rule"] for t in result["trials"]] == ["base", "instruction", "few-shot-2"]
    assert result["best"] == "prompt:support@3" and result["model"] == model
    listed = shell.json("evidence", "list", result["best"], "--paired", model)
    assert [(e["kind"], e["paired"]) for e in listed] == [("prompt_length", model)]
    other = shell.json(
        "models", "register", "chat", str(make_model_folder(tmp_path / "n", b"1" * 64))
    )
    assert shell.json("evidence", "list", result["best"], "--paired", other["ref"]) == []
    table = shell.ok(*optimise, *length, "--instruction", "Short.").stdout
    assert "candidate: prompt:support@" in table
    bad = shell(*optimise, "--metric", "length", "--instruction", "x")
    assert bad.exit_code != 0 and "must be KIND.METRIC" in bad.output
