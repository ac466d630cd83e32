"""``lmops prompts optimise``: try variants of a prompt with one model, keep the best."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lmops_core.cli.common import JsonOpt, console, open_workspace, print_json, table
from lmops_core.cli.registry_cmds import prompts_app
from lmops_core.prompts import EvaluationRun, VariantRules


def _pairs(items: list[str] | None, hint: str, *, as_json: bool) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=hint)
        if not as_json:
            out[key] = raw
            continue
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@prompts_app.command("optimise")
def prompts_optimise(
    base: Annotated[str, typer.Argument(help="The prompt version to start from (prompt:NAME@N).")],
    evaluate: Annotated[
        list[str], typer.Option(help="Evaluation operation run on every candidate; repeatable.")
    ],
    metric: Annotated[str, typer.Option(help="KIND.METRIC the best is chosen by.")],
    model: Annotated[
        str | None, typer.Option(help="Model version (default: the prompt's target model).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="KEY=JSON for the evaluations.")
    ] = None,
    input_: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="ROLE=REF more inputs of the evaluations."),
    ] = None,
    template: Annotated[
        list[str] | None, typer.Option(help="A variant's template; repeatable.")
    ] = None,
    instruction: Annotated[
        list[str] | None, typer.Option(help="Variant: this instruction added; repeatable.")
    ] = None,
    few_shot: Annotated[
        str | None, typer.Option(help="Instruction dataset the few-shot examples come from.")
    ] = None,
    shots: Annotated[
        list[int] | None, typer.Option(help="Variant: this many examples; repeatable.")
    ] = None,
    seed: int = 0,
    lower_is_better: Annotated[
        bool, typer.Option(help="The smallest metric wins (default: the largest).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Record variants of BASE as prompt versions, evaluate each with the model, and give
    the best the alias `candidate` (it is promoted only through the usual request)."""
    params = _pairs(param, "--param", as_json=True)
    inputs = {k: str(v) for k, v in _pairs(input_, "--input", as_json=False).items()}
    runs = [EvaluationRun(op, params=params, inputs=inputs) for op in evaluate]
    with open_workspace() as ws:
        result = ws.optimise_prompt(
            base,
            evaluations=runs,
            metric=metric,
            rules=VariantRules(
                templates=template or (),
                instructions=instruction or (),
                few_shot=few_shot,
                shots=shots or (),
                seed=seed,
            ),
            model=model,
            higher_is_better=not lower_is_better,
        )
    if as_json:
        print_json(
            {
                "base": result.base,
                "model": result.model,
                "metric": result.metric,
                "best": result.best,
                "trials": [{"ref": t.ref, "rule": t.rule, "score": t.score} for t in result.trials],
            }
        )
        return
    table(
        f"{result.metric} with {result.model}",
        ["prompt", "rule", "score", ""],
        [[t.ref, t.rule, t.score, "best" if t.ref == result.best else ""] for t in result.trials],
    )
    console.print(f"candidate: {result.best}", highlight=False, markup=False)
