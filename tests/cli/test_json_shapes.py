"""One JSON shape per object, whichever command prints it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Shell
from tests.cli.test_governance_cli import DATASET_POLICY
from tests.conftest import write_jsonl

VERSION_KEYS = {
    "ref",
    "asset_type",
    "name",
    "version",
    "digest",
    "stage",
    "status",
    "meta",
    "tags",
    "aliases",
    "created_at",
    "created_by",
}
EVIDENCE_KEYS = {
    "id",
    "subject",
    "subject_digest",
    "kind",
    "stage",
    "plugin",
    "run_id",
    "metrics",
    "details",
    "artifacts",
    "digest",
    "created_at",
    "created_by",
    "paired",
    "headline",
}
REQUEST_KEYS = {
    "id",
    "asset_type",
    "ref",
    "target_stage",
    "requested_by",
    "status",
    "created_at",
    "expires_at",
    "decided_at",
    "version_digest",
    "required_approvals",
    "approvals_so_far",
    "decisions",
    "reason",
}


def test_a_version_is_the_same_everywhere(governed: Shell, tmp_path: Path) -> None:
    registered = governed.json("models", "register", "twin", str(tmp_path / "m"))
    shown = governed.json("models", "show", "twin@1")["version"]
    found = governed.json("models", "search", "--name", "twin")
    assert registered == shown == found[0]
    assert set(shown) >= VERSION_KEYS and {"kind", "size_bytes"} <= set(shown)
    tagged = governed.json("models", "tag", "twin@1", "team=cards")
    assert tagged == {**shown, "tags": {"team": "cards"}}
    assert tagged == governed.json("models", "show", "twin@1")["version"]
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "a", "response": "b"}] * 2)
    dataset = governed.json("datasets", "register", "qa", str(data), "--shape", "instruction")
    staged = governed.json("stage", "data_preparation", "dedup-exact", "-i", "dataset=dataset:qa@1")
    assert staged["outputs"]["dataset"] == governed.json("datasets", "show", "qa@2")["version"]
    assert dataset == governed.json("datasets", "show", "qa@1")["version"]
    prompt = governed.json("prompts", "create", "hi", "--template", "Hi {name}")
    assert prompt == governed.json("prompts", "show", "hi@1")["version"]


def test_an_evidence_record_is_the_same_everywhere(governed: Shell, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "a", "response": "b"}] * 3)
    governed.ok("datasets", "register", "qa", str(data), "--shape", "instruction")
    staged = governed.json("stage", "data_preparation", "dedup-exact", "-i", "dataset=dataset:qa@1")
    [record] = staged["evidence"]
    assert set(record) == EVIDENCE_KEYS
    assert record["headline"] == {"records_in": 3, "records_out": 1, "records_removed": 2}
    listed = governed.json("evidence", "list", "dataset:qa@2")
    shown = governed.json("datasets", "show", "qa@2")["evidence"]
    assert record in listed and record in shown
    eval_record = governed.json("evidence", "list", "model:chat@1", "--kind", "eval")[0]
    assert eval_record == governed.json("models", "show", "chat@1")["evidence"][0]


def test_a_request_is_the_same_everywhere(governed: Shell) -> None:
    requested = governed.json("promote", "model:chat@1", "--to", "production", who="eng")
    assert set(requested) >= REQUEST_KEYS and requested["status"] == "pending"
    listed = governed.json("requests", "list", who="val")
    assert listed["items"] == [requested] and listed["total"] == 1
    detail = governed.json("requests", "show", requested["id"], who="val")
    assert {k: detail[k] for k in requested} == requested
    assert {"evaluation", "evidence", "current_in_stage"} <= set(detail)
    approved = governed.json(
        "requests",
        "approve",
        requested["id"],
        "--role",
        "validator",
        "--comment",
        "validated",
        who="val",
    )
    after = governed.json("requests", "show", requested["id"], who="val")
    assert {k: after[k] for k in approved} == approved
    assert approved["approvals_so_far"] == {"validator": 1}
    rejected = governed.json(
        "requests",
        "reject",
        requested["id"],
        "--role",
        "risk_officer",
        "--comment",
        "not yet",
        who="risk",
    )
    assert rejected["status"] == "rejected"
    assert governed.json("requests", "list", "--status", "rejected")["items"] == [rejected]


def test_audit_events_and_verification(governed: Shell) -> None:
    events = governed.json("audit", "log", "--limit", "500")
    assert all(
        set(e) == {"seq", "ts", "actor", "action", "subject", "before", "after", "hash"}
        for e in events
    )
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    verified = governed.json("audit", "verify")
    assert verified["ok"] is True
    assert verified["chain"]["ok"] is True and verified["chain"]["events"] >= len(events)
    assert verified["chain"]["message"].startswith("audit log verified")
    assert set(verified["decisions"]) == {"ok", "decisions_checked", "keys_checked", "problems"}


def test_policy_lint_json(shell: Shell, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(DATASET_POLICY)
    report = shell.json("policy", "lint", str(good))
    assert report["ok"] is True and report["errors"] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: lmops/v1\nkind: Policy\nname: x\nrules: [{name: r, bogus: 1}]\n")
    result = shell("policy", "lint", str(bad), "--json")
    assert result.exit_code == 2
    import json

    parsed = json.loads(result.stdout)
    assert parsed["ok"] is False and parsed["errors"] >= 1
    issue = parsed["issues"][0]
    assert {"file", "line", "severity", "rule", "condition", "message", "text"} == set(issue)
    assert issue["file"].endswith("bad.yaml")


def test_a_signing_key_and_a_role_grant(governed: Shell, tmp_path: Path) -> None:
    governed.ok("keys", "generate", "--out", str(tmp_path / "val.key"))
    registered = governed.json("keys", "register", "val", str(tmp_path / "val.key.pub"), who="boss")
    assert set(registered) == {
        "fingerprint",
        "user",
        "created_by",
        "created_at",
        "revoked_at",
        "active",
    }
    assert registered in governed.json("keys", "list")["personal_keys"]
    revoked = governed.json("keys", "revoke", "val", who="boss")
    assert revoked == {**registered, "revoked_at": revoked["revoked_at"], "active": False}
    assert revoked in governed.json("keys", "list")["personal_keys"]
    assert governed.json("users", "grant", "val", "viewer", who="boss") == {
        "user": "val",
        "role": "viewer",
        "holds": True,
    }
    assert governed.json("users", "revoke", "val", "viewer", who="boss") == {
        "user": "val",
        "role": "viewer",
        "holds": False,
    }


# Commands that print no report of their own, or print a secret once, or stream an account.
NO_JSON = {
    "init",
    "serve",
    "run",
    "demo",
    "tokens create",
    "keys generate",
    "keys export-public",
    "audit checkpoint",
    "monitor watch",
}


def test_every_reporting_command_takes_json() -> None:
    import typer

    from lmops_core.cli import app

    def leaves(command: object, prefix: str = "") -> list[tuple[str, object]]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            return [(prefix.strip(), command)]
        return [
            leaf for name, sub in subcommands.items() for leaf in leaves(sub, f"{prefix} {name}")
        ]

    found = leaves(typer.main.get_command(app))
    assert len(found) > 50
    missing = sorted(
        name
        for name, command in found
        if name not in NO_JSON and not any("--json" in p.opts for p in command.params)
    )  # type: ignore[attr-defined]
    assert missing == []
    assert {name for name, _ in found} >= NO_JSON  # the exceptions are real commands
