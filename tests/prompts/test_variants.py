"""Prompt specs render as documented; rule variants are escaped and seeded."""

from __future__ import annotations

import pytest

from lmops_core.errors import ValidationError
from lmops_core.prompts import PromptSpec
from lmops_core.prompts.variants import given_variants, rule_variants, with_examples

BASE = PromptSpec("Answer: {question}", ("question",), "Be brief.")
RECORDS = [{"prompt": f"q{i} {{x}}", "response": f"a{i}"} for i in range(6)]


def test_render_puts_the_system_prompt_first() -> None:
    assert BASE.render_input("2+2?", ref="prompt:p@1") == "Be brief.\n\nAnswer: 2+2?"
    assert PromptSpec("Hi {n}", ("n",)).render({"n": "Ann"}) == "Hi Ann"
    with pytest.raises(ValidationError, match="variable 'n'"):
        PromptSpec("Hi {n}", ("n",)).render({})
    with pytest.raises(ValidationError, match=r"prompt:two@3 declares variables \['a', 'b'\]"):
        PromptSpec("{a}{b}", ("a", "b")).render_input("x", ref="prompt:two@3")


def test_digest_covers_system_prompt_and_target_but_keeps_old_digests() -> None:
    plain = PromptSpec("Hi {n}", ("n",))
    assert plain.digest() != PromptSpec("Hi {n}", ("n",), "sys").digest()
    assert plain.digest("sha256:" + "a" * 64) != plain.digest("sha256:" + "b" * 64)
    from lmops_core.digests import digest_bytes

    assert plain.digest() == digest_bytes(b"Hi {n}\x00n")


def test_rule_variants_escape_added_text_and_are_seeded() -> None:
    variants = rule_variants(
        BASE, instructions=["Use {braces} freely."], examples=RECORDS, shots=[2, 3], seed=7
    )
    assert [v.rule for v in variants] == ["instruction", "few-shot-2", "few-shot-3"]
    for variant in variants:
        assert variant.spec.variables == ("question",)
        assert variant.spec.system_prompt == "Be brief."
        rendered = variant.spec.render_input("Q?", ref="prompt:p@1")
        assert rendered.endswith("Answer: Q?")
    assert "Use {braces} freely.\nAnswer: Q?" in variants[0].spec.render_input("Q?", ref="p")
    assert variants[1].spec.render_input("Q?", ref="p").count("Q: q") == 2
    again = rule_variants(BASE, examples=RECORDS, shots=[2], seed=7)
    assert again[0].spec == variants[1].spec
    assert with_examples(BASE, RECORDS, 2, seed=8).spec != variants[1].spec
    with pytest.raises(ValidationError, match="cannot draw 7 few-shot examples from 6"):
        with_examples(BASE, RECORDS, 7, seed=0)


def test_given_templates_must_keep_the_variables() -> None:
    assert given_variants(BASE, ["Q: {question}"], name="p")[0].rule == "given"
    with pytest.raises(ValidationError, match="declares"):
        given_variants(BASE, ["Q: {other}"], name="p")
