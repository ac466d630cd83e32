"""Streaming through a real uvicorn server on loopback, and the plugin's CLI hook."""

from __future__ import annotations

import json

import httpx
import lmops_serve.plugin
import pluggy
import typer
from lmops_serve.app import create_app
from lmops_serve.server import BackgroundServer

import lmops_core.hookspecs


def test_stream_over_real_server(packaged, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        packaged.bundle, public_keys=packaged.keys.public_keys(), log_path=tmp_path / "log.jsonl"
    )
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        assert client.get("/version").json()["approval_request_id"] == packaged.request_id
        events = []
        with client.stream(
            "POST",
            "/v1/generate?stream=true",
            json={"prompt": "Say something", "max_new_tokens": 6},
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((event, json.loads(line[6:])))
    assert events[-1][0] == "done" and events[-1][1]["metrics"]["tokens_out"] > 0
    assert [e for e, _ in events[:-1]] and all(e == "token" for e, _ in events[:-1])
    assert json.loads((tmp_path / "log.jsonl").read_text())["stream"] is True


def test_plugin_registers_serve_model_command() -> None:
    pm = pluggy.PluginManager("lmops")
    pm.add_hookspecs(lmops_core.hookspecs)
    pm.register(lmops_serve.plugin)
    pm.check_pending()
    app = typer.Typer()
    pm.hook.register_commands(cli=app)
    assert [c.name for c in app.registered_commands] == ["serve-model"]
