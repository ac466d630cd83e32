"""Secrets handed to lmops never come back out: not from the database, the audit log,
the SDK, a report, the CLI's ``--json`` output or an error message.

Each attack plants distinct secrets, nested in dicts and lists, under secret key
names and as recognisable values, then greps everything stored or shown for them.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.errors import StageError
from lmops_core.pipelines import PipelineRunner, load_pipeline
from lmops_core.redaction import MASK, is_secret_key, redact, redact_text
from lmops_core.registry.models import Run, utcnow
from lmops_core.workspace import Workspace
from tests.conftest import admin_ws, make_settings, write_jsonl

PLUGIN = Path(__file__).with_name("leaky_plugin.py")

# Distinct, recognisable secrets: each must appear nowhere after the attack.
SK = "sk-proj-A1b2C3d4E5f6G7h8J9k0L1m2"
GH = "ghp_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"
AWS = "AKIAQWERTYUIOPASDFGH"
HF = "hf_Tq3Vb8Nm2Lk7Jh4Gf9Ds1Ap6Zx5Cv0Bn8Mq"
URL_PW = "Url-Pa55-w0rd-91827"
KEY_PW = "plain-password-value-55120"
CLIENT_SECRET = "client-secret-value-77031"
API_KEY = "api-key-value-40418"
BEARER = "bEaReRvAlUe0123456789xyz"
SALT = "salty-salt-value-6678"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
STRIPE = "sk_live_51HxYzAbCdEfGhIjKlMnOp"
RAW = [SK, GH, AWS, HF, URL_PW, KEY_PW, CLIENT_SECRET, API_KEY, BEARER, SALT, PEM_BODY, JWT, STRIPE]


def leak(lmops_token: str) -> dict[str, Any]:
    """Secrets nested the ways parameters nest them."""
    return {
        "optimizer": {"lr": 0.1, "auth": {"api_key": API_KEY, "apiKey": API_KEY}},
        "sources": [
            {"url": f"https://reader:{URL_PW}@data.example.com/x.jsonl"},
            {"headers": {"Authorization": f"Bearer {BEARER}", "X-Api-Key": API_KEY}},
        ],
        "note": f"keys {SK} and {GH}, and {STRIPE}",
        "aws": AWS,
        "hf": HF,
        "jwt": JWT,
        "tok": lmops_token,
        "nested": [[{"client_secret": CLIENT_SECRET, "hash_salt": SALT}]],
        "db": {"password": KEY_PW, "port": 5432},
        "pem": f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
        "dsn": f"postgresql://svc:{URL_PW}@db.internal:5432/lmops",
        "openai": SK,
        "bearer": BEARER,
        # Not secrets: they must survive.
        "eos_token": "</s>",
        "max_new_tokens": 32,
        "threshold": 0.5,
        "model": "tiny-gpt2",
    }


def _leaked(text: str, lmops_token: str | None = None) -> list[str]:
    found = [s for s in RAW if s in text]
    # The secret is everything after ``lmops_<id>_``; it may itself hold "_" (urlsafe base64),
    # so split from the left: a short tail after its last "_" would match digests by chance.
    if lmops_token is not None and lmops_token.split("_", 2)[2] in text:
        found.append("lmops token secret")
    return found


def _dump_store(ws: Workspace) -> str:
    """Every row of every table, as text: what an attacker with the database sees."""
    meta = MetaData()
    meta.reflect(ws.db.engine)
    parts: list[str] = []
    with ws.db.engine.connect() as conn:
        for table in meta.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


# -- the function --------------------------------------------------------------------


def test_every_secret_shape_and_key_is_masked() -> None:
    out = redact(leak("lmops_0123456789abcdef_" + "S" * 43))
    text = json.dumps(out)
    assert _leaked(text) == []
    assert "S" * 43 not in text and "lmops_0123456789abcdef_***" in text
    assert out["sources"][0]["url"] == f"https://reader:{MASK}@data.example.com/x.jsonl"
    assert out["db"] == {"password": MASK, "port": 5432}
    assert out["eos_token"] == "</s>" and out["max_new_tokens"] == 32
    assert out["threshold"] == 0.5 and out["model"] == "tiny-gpt2"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {BEARER}",
        f"authorization=Basic {BEARER}",
        f"curl -H 'X-Api-Key: {API_KEY}'",
        f"password={KEY_PW}",
        f'{{"password": "{KEY_PW}"}}',
        f"{{'client_secret': '{CLIENT_SECRET}'}}",
        f"export OPENAI_API_KEY={API_KEY}",
        f"redis://:{URL_PW}@cache:6379/0",
        f"amqp://user:{URL_PW}@mq/vhost",
        f"git clone https://{GH}@github.com/o/r",
        f"HF_TOKEN={HF}",
        f"token: {JWT}",
        f"salt={SALT}",
        f"aws_secret_access_key = {KEY_PW}",
        f"key {STRIPE} used",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n",
        f"posting to https://hooks.slack.com/services/T0001/B0001/{API_KEY}",
        f"https://discord.com/api/webhooks/123/{API_KEY}",
        f"https://acct.blob.core.windows.net/c/b?sv=2022&sig={API_KEY}&se=2030",
        f"https://api.example.com/x?access_token={API_KEY}&page=2",
    ],
)
def test_secrets_inside_free_text_are_masked(text: str) -> None:
    assert _leaked(redact_text(text)) == []


def _every_pattern(text: str) -> str:
    """``redact_text`` as it was before its patterns were skipped where they cannot match:
    after the first look, every pattern runs."""
    from lmops_core import redaction as r

    if not r._maybe(text):
        return text
    text = r._PRIVATE_KEY.sub(lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY-----{MASK}", text)
    text = r._URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    text = r._URL_TOKEN_USER.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = r._SHAPES.sub(r._shape, text)
    text = r._HOOK_PATH.sub(lambda m: f"{m.group(1)}/{MASK}", text)
    text = r._AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return r._PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


#: Pieces that make (or nearly make) each pattern match, including letters ``re`` folds
#: onto ASCII ones when it ignores case (long s, Kelvin sign, dotless i).
_PIECES = [
    "sk-",
    "sk_live_",
    "ghp_",
    "hf_",
    "lmops_0123abcd_",
    "AKIA",
    "AIza",
    "eyJ",
    "xoxb-",
    "A1b2C3d4E5f6G7h8J9k0L1m2",
    "0123456789abcdef0123",
    ".",
    "eyJhbGciOiJIUzI1NiJ9",
    "https://",
    "redis://",
    "user",
    ":",
    "@",
    "/",
    "host",
    "Pa55w0rd",
    "?",
    "&",
    "=",
    "hooks.slack.com/services",
    "hookſ.slack.com/services",
    "HOOKS.SLACK.COM/services",
    "discord.com/api/webhooks",
    "dıscord.com/api/webhooks",
    "discordapp.com/api/webhooks",
    "x.webhook.office.com/webhookb2",
    "x.webhooK.office.com/webhookb2",
    "slack",
    "Bearer",
    "BASIC",
    "digest",
    "dıgest",
    "baſic",
    " ",
    "\t",
    "\u2003",
    "token",
    "password",
    "auth",
    "sig",
    '"',
    "'",
    "{",
    "}",
    ",",
    "digests",
    "-----BEGIN RSA ",
    "PRIVATE KEY-----",
    "é",
    "ß",
]


@pytest.mark.parametrize("seed", range(40))
def test_skipping_patterns_that_cannot_match_changes_nothing(seed: int) -> None:
    import random

    rng = random.Random(seed)
    for _ in range(250):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))
        assert redact_text(text) == _every_pattern(text), text


@pytest.mark.parametrize(
    "text",
    [
        "see hookſ.slack.com/services/T0/B0/abcdefgh",  # long s: folded by (?i), not lower()
        "x.webhooK.office.com/webhookb2/abcdef",  # Kelvin sign
        "posting to https://dıscord.com/api/webhooks/1/abcdef",  # dotless i
        "Authorization: baſic dXNlcjpwYXNzd29yZA==",
        'token={"digest": "sha256:ab"}, digest\u2003abcdefgh1234',
    ],
)
def test_letters_re_folds_still_reach_their_patterns(text: str) -> None:
    assert redact_text(text) == _every_pattern(text)
    assert redact_text(text) != text


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "apiKey",
        "X-Api-Key",
        "Authorization",
        "hf_token",
        "GITHUB_TOKEN",
        "client_secret",
        "credentials",
        "hash_salt",
        "aws_secret_access_key",
        "privateKey",
        "session_cookie",
        "refresh_token",
        "token",
    ],
)
def test_secret_key_names(key: str) -> None:
    assert is_secret_key(key)
    assert redact({key: "x" * 20}) == {key: MASK}
    assert redact({"outer": [{key: {"inner": "x" * 20}}]}) == {"outer": [{key: {"inner": MASK}}]}


@pytest.mark.parametrize(
    "key",
    [
        "eos_token",
        "pad_token_id",
        "max_new_tokens",
        "tokens_per_s",
        "secret_leak_rate",
        "text_key",
        "author",
        "tokenizer",
    ],
)
def test_ordinary_key_names_are_kept(key: str) -> None:
    assert not is_secret_key(key)
    assert redact({key: "value"}) == {key: "value"}


def test_a_word_piece_under_token_is_kept_but_a_credential_is_not() -> None:
    assert redact({"token": " world"}) == {"token": " world"}
    assert redact({"token": "a" * 40}) == {"token": MASK}


def test_json_structure_under_a_secret_named_key_keeps_its_shape() -> None:
    text = '{"auth":{"method":"token","token":"%s"},"ids":[1],"sig":[],"comment":"ok"}' % ("a" * 40)
    masked = redact(text)
    # The brace and brackets are structure: the object inside is judged pair by pair.
    assert masked == '{"auth":{"method":"token","token":"***"},"ids":[1],"sig":[],"comment":"ok"}'
    assert redact("auth=s3cr3tvalue password: hunter22") == "auth=*** password: ***"


# -- every sink, on SQLite and PostgreSQL ----------------------------------------------------


@pytest.fixture
def leaky_ws(tmp_path: Path, db_url: str) -> Any:
    (tmp_path / "no-policies").mkdir()
    ws = Workspace.open(
        make_settings(
            tmp_path / "home", db_url, plugins=[str(PLUGIN)], policies_dir=tmp_path / "no-policies"
        )
    )
    yield admin_ws(ws)  # the admin's real token: creating bob's token is a decision
    ws.close()


def test_secrets_reach_no_sink(leaky_ws: Workspace, tmp_path: Path, db_url: str) -> None:
    ws = leaky_ws
    token = ws.governance.create_token("bob", role="viewer", description="for the attack")
    secrets = leak(token)
    data = ws.register_dataset(
        "d",
        write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}]),
        shape="text",
        meta={"source": secrets["sources"]},
        description=f"pulled with {SK}",
    )
    # A successful run: params, result params, info, output metadata, evidence details.
    outcome = ws.run_stage(
        "training", "leaky-train", inputs={"dataset": data.ref}, params={"leak": secrets}
    )
    model = outcome.output("model")
    # A failed run: the plugin's exception carries a DSN, a bearer token and a key.
    with pytest.raises(StageError) as failed:
        ws.run_stage(
            "training",
            "leaky-train",
            inputs={"dataset": data.ref},
            params={"leak": secrets, "fail": True},
        )
    assert _leaked(str(failed.value), token) == []
    # Evidence and tags attached through the SDK; an alias move and a tag write audit events.
    ws.attach_evidence(
        model,
        kind="review",
        digest=ws.get(model).digest,
        metrics={"ok": True},
        details={"reviewer_auth": secrets["db"], "transcript": secrets["note"]},
    )
    ws.tag(model, "source", f"https://u:{URL_PW}@h.example/x")
    # A pipeline whose run step carries the same secrets.
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        textwrap.dedent(f"""
        apiVersion: lmops/v1
        kind: Pipeline
        name: leaky
        actor: alice
        steps:
          - id: train
            run:
              stage: training
              operation: leaky-train
              inputs: {{dataset: "{data.ref}"}}
              params: {{leak: {json.dumps(secrets)}}}
          - id: fails
            run:
              stage: training
              operation: leaky-train
              inputs: {{dataset: "{data.ref}"}}
              params: {{fail: true, leak: {json.dumps(secrets)}}}
    """)
    )
    runner = PipelineRunner(ws, load_pipeline(pipeline), base_dir=tmp_path)
    with pytest.raises(StageError) as pipeline_failed:
        runner.run()
    assert _leaked(str(pipeline_failed.value), token) == []
    assert _leaked(runner.results["train"].summary, token) == []

    # The database, audit log included, holds none of them.
    dump = _dump_store(ws)
    assert _leaked(dump, token) == [], [line for line in dump.splitlines() if _leaked(line, token)][
        :3
    ]
    # Nor does anything the SDK shows.
    shown = json.dumps(
        [r.model_dump() for r in ws.runs(limit=100)]
        + [e.model_dump() for e in ws.evidence(model)]
        + [e.model_dump() for e in ws.audit_events(limit=1000)]
        + [ws.get(model).model_dump(), ws.get(data.ref).model_dump()],
        default=str,
    )
    assert _leaked(shown, token) == []
    assert ws.run(outcome.run_id).params["echo"]["db"] == {"password": MASK, "port": 5432}
    assert ws.run(outcome.run_id).params["leak"]["eos_token"] == "</s>"
    assert ws.verify_audit().ok
    # Nor the validation report.
    from lmops_core.reports import render_report

    report = render_report(ws, model, to="staging")
    assert _leaked(report.markdown + report.html, token) == []
    # Nor the CLI's JSON.
    env = {
        "LMOPS_HOME": str(ws.settings.home),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "LMOPS_ACTOR": "alice",
        "COLUMNS": "200",
    }
    if ws.settings.database_url:
        env["LMOPS_DATABASE_URL"] = ws.settings.database_url
    for args in (
        ["runs", "list", "--json"],
        ["runs", "show", outcome.run_id],
        ["models", "show", model, "--json"],
        ["audit", "log", "--json", "--limit", "1000"],
        ["evidence", "list", model, "--json"],
    ):
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, (args, result.output)
        assert _leaked(result.output, token) == [], args


def test_rows_written_before_redaction_are_masked_when_shown(ws: Workspace) -> None:
    # A run row as an older lmops stored it, straight into the table.
    with ws.db.write() as s:
        s.add(
            Run(
                id="legacy0run",
                stage="training",
                operation="old",
                plugin="old",
                status="failed",
                params={"db": {"password": KEY_PW}, "key": SK},
                info={"headers": {"Authorization": f"Bearer {BEARER}"}},
                error=f"connect postgresql://u:{URL_PW}@db/x failed",
                actor="alice",
                started_at=utcnow(),
            )
        )
    shown = json.dumps(ws.run("legacy0run").model_dump(), default=str)
    assert _leaked(shown) == []
    result = CliRunner().invoke(
        app,
        ["runs", "show", "legacy0run"],
        env={
            "LMOPS_HOME": str(ws.settings.home),
            "LMOPS_LOAD_ENTRY_POINTS": "false",
            **(
                {"LMOPS_DATABASE_URL": ws.settings.database_url} if ws.settings.database_url else {}
            ),
        },
    )
    assert result.exit_code == 0 and _leaked(result.output) == []


def test_cli_error_messages_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lmops_core.cli import main
    from lmops_core.cli.exit_codes import ExitCode
    from lmops_core.settings import get_settings

    monkeypatch.setenv("LMOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LMOPS_LOAD_ENTRY_POINTS", "false")
    get_settings.cache_clear()
    Workspace.open(get_settings()).close()  # a store to look the run up in
    # A secret pasted where a run id belongs comes back in the "not found" message.
    monkeypatch.setattr("sys.argv", ["lmops", "runs", "show", SK])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == ExitCode.NOT_FOUND
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and SK not in captured.err + captured.out
