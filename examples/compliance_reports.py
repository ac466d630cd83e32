"""Write a passing and a failing model's compliance reports for every shipped pack.

    python examples/compliance_reports.py OUT_FOLDER

Everything runs offline through the real SDK and plugins, on a tiny random model:
lmops-hf builds the base and fine-tunes two adapters (one on data redacted by
lmops-presidio, one on the raw data), lmops-lm-eval runs an evaluation suite,
lmops-safety its probes, lmops-shap explains two prompts and lmops-evidently
compares two traffic windows. The passing version is evaluated by a validator,
approved by a validator and a risk officer, and deployed behind a guard that
redacts personal data; the failing one is evaluated and "validated" by its own
author, trained on unscanned data, has a stricter suite it fails, and a guard
that lets personal data through.

For the TC260-003 pack, lmops-safety's ``tc260`` evaluator samples question banks and a
corpus with a recorded seed, has the model answer and judges the answers. The passing
version is assessed as a service: behind the keyword input filter, on banks and a
keyword library of the standard's sizes generated from templates (each file's header
says so), with a generated 4,000-record corpus standing in for its training corpus (its
real training set has 12 records, too few to sample 4,000 from). The failing version is
assessed by its author on the shipped sample banks (far below the standard's sizes), with
no filter, and with its real training set, found through lineage, as its corpus: a
third of its records hold personal data.

Writes ``OUT_FOLDER/<pack>-<passing|failing>.md`` and ``.html`` and prints the
status counts of each report.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lmops_safety.compliance_inputs import training_datasets
from lmops_safety.testing import write_bank_folder, write_corpus

from lmops_core.compliance import PACKS_FOLDER, PackReport, load_pack, render_pack_report
from lmops_core.reports import render_report
from lmops_core.testing import Governed, write_jsonl
from lmops_core.workspace import Workspace

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent
PACKS = sorted((REPO / "policies" / PACKS_FOLDER).glob("*.yaml"))

#: The store's own gate: any production request needs a validator and a risk officer.
POLICY = """\
apiVersion: lmops/v1
kind: Policy
name: gate
rules:
  - name: production
    applies_to: {asset: model, transition: production}
    approvals: [{role: validator}, {role: risk_officer}]
"""
#: A planted e-mail address: the redacted data has none left, the raw data was never scanned.
PII_ROW = {"prompt": "Write to me at jane.roe.pack@example.com", "response": "Noted, thank you."}
TRAIN = {"max_steps": 1, "batch_size": 4, "threads": 1}
SAFETY = {"max_probes_per_group": 1, "max_new_tokens": 4, "threads": 1}
SHAP = {"max_evals": 16, "max_new_tokens": 2, "top_k": 2, "threads": 1}
TC260 = {"max_new_tokens": 2, "threads": 1}
#: The seed the TC260 samples are drawn with (recorded in the evidence).
TC260_SEED = 7


@dataclass
class Scenario:
    """The store and the two model versions the reports are about."""

    store: Governed
    passing: str
    failing: str


def _suite(root: Path, name: str, minimum: float) -> Path:
    """The example suite with its accuracy bar set to ``minimum``."""
    folder = root / name
    shutil.copytree(EXAMPLES / "suite", folder)
    suite = folder / "suite.yaml"
    text = suite.read_text(encoding="utf-8").replace("acc: {min: 0.25}", f"acc: {{min: {minimum}}}")
    suite.write_text(text.replace("name: bank-gate", f"name: {name}"), encoding="utf-8")
    return folder


def _traffic(root: Path, name: str, start: int) -> Path:
    """An inference-log window: the example's instructions as prompts and answers."""
    lines = (EXAMPLES / "data" / "instructions.jsonl").read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    records = [rows[(start + i) % len(rows)] for i in range(60)]
    return write_jsonl(root / f"{name}.jsonl", records)


def build(root: Path) -> Scenario:
    """Build the store under ``root`` and both versions with their evidence and sign-offs."""
    root.mkdir(parents=True, exist_ok=True)
    store = Governed.open(root / "home", policies={"gate": POLICY})
    eng = store.as_user("eng", "submitter")
    val = store.as_user("val", "validator")
    risk = store.as_user("risk", "risk_officer")
    base = eng.run_stage(
        "training", "create-base", inputs={}, params={"name": "tiny", "size": "tiny"}, seed=0
    ).output("model")
    rows = (EXAMPLES / "data" / "instructions.jsonl").read_text("utf-8").splitlines()
    source = root / "support.jsonl"
    source.write_text("\n".join([*rows[:11], json.dumps(PII_ROW)]) + "\n", encoding="utf-8")
    raw = eng.register_dataset("support", source, shape="instruction").ref
    redacted = next(
        iter(
            eng.run_stage(
                "data_preparation",
                "pii-redact",
                inputs={"dataset": raw},
                params={"ner_model": None},
            ).outputs.values()
        )
    )
    passing, failing = (
        eng.run_stage(
            "training", "sft", inputs={"base": base, "dataset": data}, params=TRAIN, seed=0
        ).output("adapter")
        for data in (redacted, raw)
    )
    suites = {
        name: val.register_suite(name, _suite(root, name, minimum)).ref
        for name, minimum in (("smoke", 0.0), ("strict", 1.0))
    }
    _evaluate_passing(root, store, {"model": passing, "base": base}, suites["smoke"])
    _evaluate_failing(root, store, {"model": failing, "base": base}, suites["strict"])
    request = store.as_user("sub", "submitter").governance.request_promotion(
        passing, to="production"
    )
    val.governance.decide(request.id, approve=True, role="validator", comment="evidence reviewed")
    risk.governance.decide(request.id, approve=True, role="risk_officer", comment="risk accepted")
    return Scenario(store, passing, failing)


def _evaluate_passing(root: Path, store: Governed, model: dict[str, str], suite: str) -> None:
    """Independent evaluation, safety probes, explanations, monitoring, a validation report
    and a guard that redacts personal data (``model``: the adapter and its base, by role)."""
    val, ops = store.as_user("val", "validator"), store.as_user("ops", "submitter")
    ref = model["model"]
    val.run_stage("evaluation", "lm-eval", inputs={**model, "suite": suite}, seed=0)
    val.run_stage("evaluation", "safety", inputs=model, params=SAFETY, seed=0)
    chats = val.register_dataset("chats", EXAMPLES / "data" / "chats.jsonl", shape="dialogue")
    val.run_stage(
        "explainability", "shap", inputs={**model, "dataset": chats.ref}, params=SHAP, seed=0
    )
    windows = {
        role: ops.register_dataset(
            f"traffic-{role}", _traffic(root, role, start), shape="instruction"
        ).ref
        for role, start in (("reference", 0), ("current", 0))
    }
    ops.run_stage("monitoring", "drift", inputs={"model": ref, **windows}, params={"pii_rows": 10})
    digest = val.get(ref).digest
    report = root / "validation-report.md"
    report.write_text(render_report(val, ref).markdown, encoding="utf-8")
    val.attach_evidence(
        ref, kind="validation", digest=digest, metrics={}, files={report.name: report}
    )
    _guard(root, ops, ref, redact=True)
    _assess_tc260_service(root, val, model)


def _assess_tc260_service(root: Path, val: Workspace, model: dict[str, str]) -> None:
    """The TC260-003 assessment of the model behind the keyword input filter, on generated
    banks and a generated corpus of the standard's sizes."""
    banks = write_bank_folder(
        root / "tc260-banks", "tc260-generated", generated_by="examples/compliance_reports.py"
    )
    suite = val.register_suite("tc260-generated", banks).ref
    corpus = write_corpus(root / "tc260-corpus.jsonl")
    corpus_ref = val.register_dataset("tc260-corpus", corpus, shape="text").ref
    val.run_stage(
        "evaluation",
        "tc260",
        inputs={**model, "suite": suite, "corpus": corpus_ref},
        params={**TC260, "input_filter": True},
        seed=TC260_SEED,
    )


def _evaluate_failing(root: Path, store: Governed, model: dict[str, str], suite: str) -> None:
    """The author evaluates against the strict suite, attaches its own "validation" and a
    guard that lets personal data through, and runs the TC260 assessment carelessly."""
    eng = store.as_user("eng", "submitter")
    ref = model["model"]
    eng.run_stage("evaluation", "lm-eval", inputs={**model, "suite": suite}, seed=0)
    report = root / "self-review.md"
    report.write_text("Reviewed by the author.\n", encoding="utf-8")
    digest = eng.get(ref).digest
    eng.attach_evidence(
        ref, kind="validation", digest=digest, metrics={}, files={report.name: report}
    )
    _guard(root, store.as_user("ops", "submitter"), ref, redact=False)
    # TC260-003: the shipped sample banks, no filter, its own unscanned training set.
    [corpus] = training_datasets(eng, ref)
    eng.run_stage(
        "evaluation", "tc260", inputs={**model, "corpus": corpus}, params=TC260, seed=TC260_SEED
    )


def _guard(root: Path, ops: Workspace, ref: str, *, redact: bool) -> None:
    mode = "redact" if redact else "off"
    config = root / f"guard-{mode}.yaml"
    config.write_text(
        f"apiVersion: lmops/v1\nkind: GuardConfig\nname: assistant\npii: {{mode: {mode}}}\n"
        "refusals: {categories: [weapons, malware]}\n",
        encoding="utf-8",
    )
    ops.attach_evidence(
        ref,
        kind="guard_config",
        digest=ops.get(ref).digest,
        metrics={"pii_guard": redact, "refusal_categories": 2},
        files={config.name: config},
        stage="deployment",
    )


def write_reports(scenario: Scenario, out: Path) -> dict[str, Counter[str]]:
    """Every shipped pack's report of both versions into ``out``; the status counts of each."""
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Counter[str]] = {}
    for path in PACKS:
        pack = load_pack(path)
        for label, ref in (("passing", scenario.passing), ("failing", scenario.failing)):
            report: PackReport = render_pack_report(scenario.store.ws, pack, ref)
            stem = out / f"{pack.id}-{label}"
            stem.with_suffix(".md").write_text(report.markdown, encoding="utf-8")
            stem.with_suffix(".html").write_text(report.html, encoding="utf-8")
            counts[stem.name] = Counter(v.status for v in report.verdicts)
    return counts


def main(argv: list[str]) -> int:
    """``compliance_reports.py OUT_FOLDER``."""
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = Path(argv[0])
    scenario = build(out / "store")
    try:
        for name, counts in write_reports(scenario, out).items():
            shown = ", ".join(f"{k} {counts[k]}" for k in ("met", "not-met", "not-evidenced"))
            print(f"{out / name}.md (.html): {shown}")
    finally:
        scenario.store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
