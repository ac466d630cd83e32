"""Variants of a prompt: given as templates, or made by rules (an instruction, few-shot examples).

Every variant keeps the base prompt's variables; text a rule adds is escaped, so braces in
an instruction or an example never become placeholders.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lmops_core.errors import ValidationError
from lmops_core.prompts.spec import PromptSpec, escape_braces


@dataclass(frozen=True)
class Variant:
    """A prompt to try: its content and the rule that made it (``"given"`` for a listed one)."""

    spec: PromptSpec
    rule: str


def given_variants(base: PromptSpec, templates: Sequence[str], *, name: str) -> list[Variant]:
    """Listed templates, each checked to declare the base prompt's variables."""
    out = []
    for template in templates:
        spec = PromptSpec.checked(
            name, template, variables=base.variables, system_prompt=base.system_prompt
        )
        out.append(Variant(spec, "given"))
    return out


def with_instruction(base: PromptSpec, instruction: str) -> Variant:
    """The base prompt with ``instruction`` on a line of its own before the template."""
    if not instruction.strip():
        raise ValidationError("an added instruction must not be empty", field="instructions")
    template = f"{escape_braces(instruction.strip())}\n{base.template}"
    return Variant(PromptSpec(template, base.variables, base.system_prompt), "instruction")


def with_examples(
    base: PromptSpec, records: Sequence[Mapping[str, str]], k: int, *, seed: int
) -> Variant:
    """The base prompt after ``k`` worked examples (``prompt``/``response`` records) drawn with
    ``seed`` from ``records``: the same seed and records give the same variant."""
    if not 1 <= k <= len(records):
        raise ValidationError(
            f"cannot draw {k} few-shot examples from {len(records)} records", field="shots"
        )
    drawn = random.Random(seed).sample(list(records), k)
    shots = "".join(
        f"Q: {escape_braces(r['prompt'])}\nA: {escape_braces(r['response'])}\n\n" for r in drawn
    )
    return Variant(
        PromptSpec(shots + base.template, base.variables, base.system_prompt), f"few-shot-{k}"
    )


def rule_variants(
    base: PromptSpec,
    *,
    instructions: Sequence[str] = (),
    examples: Sequence[Mapping[str, str]] = (),
    shots: Sequence[int] = (),
    seed: int = 0,
) -> list[Variant]:
    """One variant per added instruction, then one per few-shot count in ``shots``, each
    drawn with ``seed`` (so a count gives the same examples whatever else is asked)."""
    out = [with_instruction(base, text) for text in instructions]
    out += [with_examples(base, examples, k, seed=seed) for k in shots]
    return out
