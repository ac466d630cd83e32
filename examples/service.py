"""A complete governed lifecycle through the SDK, offline, in well under a minute on a laptop.

    python examples/service.py

It works on a fresh embedded store under ``$LMOPS_HOME/service`` (removed first if it exists;
``LMOPS_HOME`` defaults to ``~/.lmops``) with the policy in ``examples/policies/``, and every
person acts through a real credential:

1. bootstrap an admin (alice), who grants roles and hands out credentials: tokens for the
   engineer (eng), the data steward (dana) and the risk officer (rita), a personal Ed25519
   signing key for the validator (val);
2. eng registers ``examples/data/chats.jsonl`` (dialogue shape) and redacts its personal data;
   dana approves the redacted version for training;
3. eng builds a tiny base model (random weights, tokenizer trained on a shipped text) and
   fine-tunes it on the approved data;
4. val evaluates it with the suite in ``examples/suite/`` and the safety probes;
5. eng asks for promotion to staging; val (signing with the personal key) and rita approve;
6. the model is exported and loaded for generation; the audit log and every decision's
   signature are verified.

Afterwards explore the store: ``LMOPS_HOME=~/.lmops/service lmops models list``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from lmops_core import Workspace
from lmops_core.governance.identity import public_pem, write_private_key
from lmops_core.policy import explain_text
from lmops_core.settings import get_settings
from lmops_core.terms import UserRoleName

EXAMPLES = Path(__file__).resolve().parent


def quiet_libraries() -> None:
    """Keep the ML libraries' progress bars and advisories out of the account printed here.

    The plugins import those libraries only when an operation runs, so this works here.
    """
    for name in (
        "TQDM_DISABLE",
        "HF_HUB_DISABLE_PROGRESS_BARS",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS",
    ):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.disable(logging.WARNING)


def open_fresh_store() -> Workspace:
    """A new embedded store under $LMOPS_HOME/service, judged by examples/policies."""
    settings = get_settings()
    home = settings.home / "service"
    if home.exists():
        shutil.rmtree(home)
    return Workspace.open(
        settings.model_copy(
            update={
                "home": home,
                "database_url": None,
                "artifact_uri": None,
                "policies_dir": EXAMPLES / "policies",
            }
        )
    )


def people(ws: Workspace) -> dict[str, Workspace]:
    """Bootstrap the admin; grant roles; give each person their own credential."""
    admin = ws.with_token(ws.governance.bootstrap_admin("alice"))  # the token is shown once
    g = admin.governance
    eng = ws.with_token(g.create_token("eng", role="submitter"))
    dana = ws.with_token(g.create_token("dana", role="data_steward"))
    rita = ws.with_token(g.create_token("rita", role="risk_officer"))
    g.grant_role("val", "validator")
    key_file = ws.settings.home / "keys" / "val.key"  # stays with val (mode 0600)
    key = write_private_key(key_file)
    public = key_file.with_name("val.key.pub")
    public.write_text(public_pem(key.public_key()), encoding="ascii")
    admin.signing_keys.register("val", public)
    val = ws.with_signing_key(key_file)
    return {"alice": admin, "eng": eng, "dana": dana, "val": val, "rita": rita}


def sign_off(request_id: str, reviewer: Workspace, role: UserRoleName, comment: str) -> None:
    """``reviewer`` approves the request as ``role``, with their reason."""
    reviewer.governance.decide(request_id, approve=True, role=role, comment=comment)


def main() -> int:
    quiet_libraries()
    ws = open_fresh_store()
    p = people(ws)
    eng, dana, val, rita = p["eng"], p["dana"], p["val"], p["rita"]
    print(f"store: {ws.settings.home}")

    # Data: register, redact, get the redacted version approved for training.
    raw = eng.register_dataset("chats", EXAMPLES / "data" / "chats.jsonl", shape="dialogue")
    redacted = eng.run_stage("data_preparation", "pii-redact", inputs={"dataset": raw.ref})
    clean = redacted.output("dataset")
    pii = eng.evidence(clean, kind="pii")[-1].metrics
    print(
        f"{raw.ref}: {raw.record_count} records -> {clean}: "
        f"{pii['findings_before']} findings redacted, {pii['findings_after']} left"
    )
    request = eng.governance.request_promotion(clean, to="approved-for-training")
    sign_off(
        request.id, dana, "data_steward", "PII evidence shows nothing left; dataset card read."
    )
    print(f"{clean}: stage {eng.get(clean).stage}")

    # Model: a tiny base built offline, fine-tuned on the approved data.
    base = eng.run_stage(
        "training",
        "create-base",
        inputs={},
        params={"name": "assistant", "size": "tiny", "risk_tier": "low"},
        seed=0,
    ).output("model")
    tuned = eng.run_stage(
        "training",
        "sft",
        inputs={"base": base, "dataset": clean},
        params={"method": "full", "max_steps": 120, "learning_rate": 0.005, "batch_size": 8},
        seed=0,
    )
    model = tuned.output("model")
    loss = eng.evidence(model, kind="training")[-1].metrics
    print(
        f"{model}: trained from {base}, loss {loss['first_loss']:.2f} -> {loss['final_loss']:.2f}"
    )

    # Evaluation by the validator, independent of the model's author.
    suite = eng.register_suite("bank-gate", EXAMPLES / "suite")
    val.run_stage("evaluation", "lm-eval", inputs={"model": model, "suite": suite.ref})
    val.run_stage(
        "evaluation",
        "safety",
        inputs={"model": model},
        params={"max_probes_per_group": 1, "max_new_tokens": 16, "threads": 1},
    )
    acc = val.evidence(model, kind="eval")[-1].metrics["acc"]
    print(f"{model}: acc {acc:.3f} on {suite.ref}")

    # Governance: a dry run, the request, two sign-offs through real credentials.
    print(explain_text(eng.governance.explain(model, to="staging")))
    request = eng.governance.request_promotion(model, to="staging")
    sign_off(request.id, val, "validator", "Evaluation and safety evidence reviewed.")
    sign_off(request.id, rita, "risk_officer", "Accepted for the internal staging environment.")
    print(
        f"{model}: stage {eng.get(model).stage} (request {request.id[:12]} "
        f"{eng.governance.get_request(request.id).status})"
    )

    # Load the promoted version for generation.
    from lmops_hf.generation import TorchGenerator, load_causal_lm

    with tempfile.TemporaryDirectory() as tmp:
        folder = eng.export(model, Path(tmp) / "assistant")  # verified against its digest
        lm, tokenizer = load_causal_lm(folder)
        reply = TorchGenerator(lm, tokenizer).generate("What is 2 + 3?", max_new_tokens=8)
    print(f"> What is 2 + 3?\n< {reply}")  # taught by examples/data/chats.jsonl: 2 + 3 = 5.

    audit = ws.verify_audit()
    decisions = ws.verify_decisions()
    print(audit)
    print(decisions)
    ws.close()
    return 0 if audit.ok and decisions.ok else 1


if __name__ == "__main__":
    sys.exit(main())
