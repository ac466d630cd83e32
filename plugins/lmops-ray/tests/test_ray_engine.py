"""The ``ray`` data engine writes the local engine's output and evidence, byte for byte.

One local Ray (two CPUs) serves the whole module. Each step runs twice on the
same registered version, once per engine; the outputs must have the same
digest and the evidence the same metrics and details.
"""

from __future__ import annotations

import json
import random
import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lmops_core.errors import PluginError, ValidationError
from lmops_core.plugins import load_plugins
from lmops_core.workspace import Workspace
from tests.builtins.test_near_dedup import labelled_records
from tests.conftest import make_settings, write_jsonl

from .conftest import PLUGINS

DEMO = resources.files("lmops_core") / "data" / "demo"


def generated(count: int, seed: int = 5) -> list[dict[str, Any]]:
    """Instruction records of many lengths, a tenth of them exact copies of earlier ones."""
    rng = random.Random(seed)
    words = ["loan", "card", "rate", "branch", "fee", "account", "transfer", "limit", "贷款"]
    rows: list[dict[str, Any]] = []
    for i in range(count):
        if rows and rng.random() < 0.1:
            rows.append(dict(rng.choice(rows)))
            continue
        prompt = " ".join(rng.choice(words) for _ in range(rng.randint(0, 40)))
        rows.append({"prompt": f"q{i} {prompt}", "response": "ok" + " ok" * rng.randint(0, 30)})
    return rows


def _register(ws: Workspace, tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> str:
    return ws.register_dataset(
        name, write_jsonl(tmp_path / f"{name}.jsonl", rows), shape="instruction"
    ).ref


def _run(ws: Workspace, op: str, ref: str, params: dict[str, Any]) -> tuple[str, Any, Any]:
    """The output's digest, its evidence (kind, metrics, details) and the run's params."""
    out = ws.run_stage("data_preparation", op, inputs={"dataset": ref}, params=params)
    ref_out = out.output("dataset")
    evidence = [(e.kind, e.metrics, e.details) for e in ws.evidence(ref_out)]
    return ws.get(ref_out).digest, evidence, ws.run(out.run_id).params


CASES = {
    "dedup-exact": {},
    "dedup-near": {"threshold": 0.8},
    "length-filter": {"min_chars": 40, "max_chars": 200},
}


@pytest.fixture(scope="module")
def mixed(ray_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo's support data, labelled near copies and generated records (three chunks)."""
    demo = [json.loads(line) for line in (DEMO / "support.jsonl").read_text().splitlines()]
    rows = demo + labelled_records() + generated(4500) + demo
    return _register(ray_ws, tmp_path_factory.mktemp("mixed"), "mixed", rows)


def run_on_both(ws: Workspace, op: str, ref: str) -> tuple[Any, Any]:
    """``op`` of CASES on the local engine and on Ray: the same digest and evidence, or fail."""
    local = _run(ws, op, ref, CASES[op])
    on_ray = _run(ws, op, ref, {**CASES[op], "engine": "ray"})
    assert on_ray[0] == local[0]
    assert on_ray[1] == local[1]  # every evidence record, the dataset card among them
    return local, on_ray


@pytest.mark.parametrize("op", sorted(CASES))
def test_same_digest_and_evidence_as_local(
    op: str, local_ray: None, ray_ws: Workspace, mixed: str
) -> None:
    local, on_ray = run_on_both(ray_ws, op, mixed)
    assert local[2]["engine"] == "local" and on_ray[2]["engine"] == "ray"
    assert [m for kind, m, _ in local[1] if kind == "data_step"][0]["records_removed"] > 0


def test_pii_redact_on_ray_writes_the_same_file_and_evidence(
    local_ray: None, ray_ws: Workspace
) -> None:
    """The demo's personal data, redacted on Ray: the same file and the same pii evidence."""
    pii = ray_ws.register_dataset(
        "support-pii", Path(str(DEMO / "support_pii.jsonl")), shape="instruction"
    ).ref
    # Patterns and checksums only: the same guard, without a spaCy model per worker.
    params = {"ner_model": None, "chinese_ner": False, "chunk_size": 4}
    local = _run(ray_ws, "pii-redact", pii, params)
    on_ray = _run(ray_ws, "pii-redact", pii, {**params, "engine": "ray"})
    assert on_ray[:2] == local[:2]
    assert [m for kind, m, _ in local[1] if kind == "pii"][0]["findings_before"] > 0


def test_the_address_setting_makes_ray_the_default(
    local_ray: None, ray_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _register(ray_ws, tmp_path, "by-env", generated(50))
    assert _run(ray_ws, "dedup-exact", ref, {})[2]["engine"] == "local"
    monkeypatch.setenv("LMOPS_RAY_ADDRESS", "local")  # this process's Ray
    assert _run(ray_ws, "dedup-exact", ref, {})[2]["engine"] == "ray"
    assert _run(ray_ws, "dedup-exact", ref, {"engine": "local"})[2]["engine"] == "local"
    with pytest.raises(
        PluginError, match=r'no data engine named "spark" \(available: local, ray\)'
    ):
        _run(ray_ws, "dedup-exact", ref, {"engine": "spark"})


def test_an_unreachable_cluster_is_named_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("LMOPS_RAY_ADDRESS", address)
    host = load_plugins(make_settings(tmp_path / "home", plugins=PLUGINS))
    started = time.monotonic()
    with pytest.raises(
        PluginError,
        match=rf'the Ray cluster at "{address}" \(LMOPS_RAY_ADDRESS\) '
        r"cannot be reached: Connection refused",
    ):
        host.data_engine(None)
    assert time.monotonic() - started < 10
    monkeypatch.setenv("LMOPS_RAY_ADDRESS", "ray://nowhere:port")
    with pytest.raises(PluginError, match="is not host:port or ray://host:port"):
        host.data_engine("ray")


def test_two_configured_engines_are_refused(tmp_path: Path) -> None:
    """register_data_engines: an engine's configured() makes it the default; two is an error."""
    from lmops_core import hookimpl
    from lmops_core.builtins.data_steps import LocalMapper
    from lmops_core.runtimes import DataEngine

    class Both:
        @hookimpl
        def register_data_engines(self, register: Any) -> None:
            for name in ("a", "b"):
                register(DataEngine(name, LocalMapper, configured=lambda: True))

    host = load_plugins(make_settings(tmp_path / "home"), registrations=False)
    host.pm.register(Both(), name="both")
    with pytest.raises(ValidationError, match=r"several data engines are configured \(a, b\)"):
        host.data_engine(None)
    assert host.data_engine("a").name == "local"
    assert json.dumps(sorted(host.data_engines)) == '["a", "b", "local"]'
