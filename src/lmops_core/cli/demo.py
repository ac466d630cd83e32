"""``lmops demo``: a guided tour of the governed lifecycle on the embedded default.

Every step goes through the SDK and real plugins; the tour prints a short
account of each stage and ends with where things are.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from lmops_core.cli import app
from lmops_core.cli.common import RichStageProgress, console, open_workspace
from lmops_core.workspace import Workspace


def _step(n: int, title: str) -> None:
    console.rule(f"[bold cyan]{n}. {title}")


def demo_data(name: str) -> Path:
    """Path of a data file shipped with lmops for the demo."""
    return Path(str(resources.files("lmops_core") / "data" / "demo" / name))


def _base_model(ws: Workspace, workdir: Path) -> str | None:
    if importlib.util.find_spec("lmops_hf") is None:
        console.print("[yellow]lmops-hf is not installed: skipping the model steps "
                      "(pip install plugins/lmops-hf)[/]")
        return None
    from lmops_hf.base_model import create_base_model

    folder = create_base_model(workdir / "tiny-base", size="tiny", seed=0)
    version = ws.register_model("demo-assistant", folder, kind="base", risk_tier="standard",
                                description="Tiny causal LM built locally for the demo.")
    console.print(f"registered base model [bold]{version.ref}[/] "
                  f"({version.size_bytes / 1e6:.2f} MB, {version.digest[:19]}...)")
    return version.ref


@app.command("demo")
def demo(
    actor: Annotated[str, typer.Option(help="Who the demo acts as.")] = "ml-engineer",
) -> None:
    """Run the end-to-end tour on the configured store (LMOPS_HOME, default ~/.lmops)."""
    started = time.perf_counter()
    with open_workspace(actor=actor) as ws, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        _step(1, "Register a dataset")
        data = ws.register_dataset("support-chats", demo_data("support.jsonl"), shape="instruction",
                                   description="Customer-service Q&A shipped with lmops.")
        card = ws.evidence(data.ref, kind="dataset_card")[0].metrics
        console.print(f"registered [bold]{data.ref}[/]: {data.record_count} records, "
                      f"{card['duplicates']} exact duplicates, languages "
                      f"{ {k[5:]: v for k, v in card.items() if k.startswith('lang.')} }")

        _step(2, "Prepare it: remove exact duplicates (a recorded run)")
        outcome = ws.run_stage("data_preparation", "dedup-exact", inputs={"dataset": data.ref},
                               progress=RichStageProgress())
        clean_ref = outcome.output("dataset")
        step_ev = ws.evidence(clean_ref, kind="data_step")[0].metrics
        console.print(f"run {outcome.run_id[:12]} made [bold]{clean_ref}[/]: removed "
                      f"{step_ev['records_removed']} of {step_ev['records_in']} records")

        _step(3, "Register a model folder")
        model_ref = _base_model(ws, workdir)

        _step(4, "Lineage")
        for edge in ws.lineage(clean_ref):
            console.print(f"{edge.child}  <- derived from -  {edge.parent}  (run {edge.run_id})")
        if model_ref:
            console.print(f"{model_ref}: a base model (no parents)")

        _step(5, "Verify the audit log")
        result = ws.verify_audit()
        console.print(("[green]" if result.ok else "[red]") + str(result))
        if not result.ok:
            raise typer.Exit(1)
        console.rule("[bold]done")
        console.print(f"store: {ws.settings.home}  (database {ws.db.dialect}, artifacts "
                      f"{ws.artifacts.uri})")
        console.print("next: `lmops datasets show support-chats`, `lmops lineage "
                      f"{clean_ref}`, `lmops audit log`")
        console.print(f"demo finished in {time.perf_counter() - started:.1f} s")
