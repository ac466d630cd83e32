"""Partitioned datasets on the ``ray`` engine: the local engine's partitions, digest and card.

A step whose input is a set of Parquet partitions writes partitions; on Ray its
output must have the local engine's Merkle root, evidence and dataset card (the
card built partition by partition on the workers and merged in order).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmops_ray.mapper import RayMapper

from lmops_core.builtins.data_steps import LocalMapper, exact_keys
from lmops_core.datasets.partition_store import ingest_partitions
from lmops_core.datasets.partitions import ROW_GROUP_ROWS, write_partition
from lmops_core.datasets.row_batches import OnLines, map_row_batches
from lmops_core.errors import PluginError, ValidationError
from lmops_core.runtimes import Ready
from lmops_core.workspace import Workspace

from .test_ray_engine import CASES, DEMO, _run, generated, run_on_both

PARTS = 4


def _partitioned(folder: Path, rows: list[dict[str, Any]]) -> Path:
    """``rows`` as PARTS canonical partitions (as a previous step would have written them)."""
    size = -(-len(rows) // PARTS)
    for k in range(PARTS):
        write_partition(rows[k * size : (k + 1) * size], folder / f"part-{k}.parquet")
    return folder


@pytest.fixture(scope="module")
def parts(ray_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = _partitioned(tmp_path_factory.mktemp("parts") / "in", generated(5000, seed=8))
    return ray_ws.register_dataset("parts", folder, shape="instruction").ref


def _card(ws: Workspace, ref: str) -> tuple[Any, Any]:
    (card,) = [(e.metrics, e.details) for e in ws.evidence(ref) if e.kind == "dataset_card"]
    return card


@pytest.mark.parametrize("op", sorted(CASES))
def test_partitioned_in_and_out_same_root_evidence_and_card(
    op: str, local_ray: None, ray_ws: Workspace, parts: str
) -> None:
    local, _ = run_on_both(ray_ws, op, parts)  # the same Merkle root: the same partitions
    latest = ray_ws.get("dataset:parts")
    assert latest.format == "parquet-partitions" and latest.digest == local[0]
    metrics, details = _card(ray_ws, f"dataset:parts@{latest.version}")
    assert metrics["content_digest"] == local[0]
    assert [p["name"] for p in details["partitions"]] == [f"part-{k}.parquet" for k in range(4)]


def test_cards_built_on_the_workers_merge_into_the_local_card(
    local_ray: None, ray_ws: Workspace, tmp_path: Path
) -> None:
    """ingest_partitions on Ray: the workers validate and build each card; the whole is exact."""
    rows: list[Any] = generated(3000, seed=9)
    rows[10] = {"prompt": "", "response": "x"}  # invalid: dropped, named in the examples
    rows[2500] = {"prompt": 3}
    folder = _partitioned(tmp_path / "in", rows)
    (tmp_path / "tmp").mkdir()
    kwargs: dict[str, Any] = {
        "shape": "instruction",
        "artifacts": ray_ws.artifacts,
        "tmp_dir": tmp_path / "tmp",
        "drop_invalid": True,
    }
    alone = ingest_partitions(folder, **kwargs)
    mapper = RayMapper(workers=2, cpus=2)
    on_ray = ingest_partitions(folder, mapper=mapper, **kwargs)
    assert on_ray == alone
    assert on_ray.dropped == 2 and "part-3.parquet" in on_ray.dropped_examples[1]
    assert on_ray.card_metrics["records"] == 2998
    assert json.dumps(on_ray.card_details, sort_keys=True) == json.dumps(
        alone.card_details, sort_keys=True
    )
    assert len(mapper.worker_peaks) == 2  # both workers checked partitions
    assert list((tmp_path / "tmp").iterdir()) == []  # no scratch partition left behind


def test_registering_partitions_with_ray_configured_gives_the_same_version(
    local_ray: None, ray_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _partitioned(tmp_path / "in", generated(1200, seed=4))
    alone = ray_ws.register_dataset("reg-local", folder, shape="instruction")
    monkeypatch.setenv("LMOPS_RAY_ADDRESS", "local")  # this process's Ray: the default engine
    on_ray = ray_ws.register_dataset("reg-ray", folder, shape="instruction")
    assert on_ray.digest == alone.digest
    assert _card(ray_ws, on_ray.ref) == _card(ray_ws, alone.ref)


def test_a_bad_record_found_by_a_worker_is_the_local_error(
    local_ray: None, ray_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[Any] = generated(300, seed=6)
    rows[250] = {"prompt": "q", "response": ""}
    folder = _partitioned(tmp_path / "in", rows)
    with pytest.raises(ValidationError) as local:
        ray_ws.register_dataset("bad-local", folder, shape="instruction")
    monkeypatch.setenv("LMOPS_RAY_ADDRESS", "local")
    with pytest.raises(ValidationError) as on_ray:
        ray_ws.register_dataset("bad-ray", folder, shape="instruction")
    assert str(on_ray.value) == str(local.value)
    assert "part-3.parquet:row 26" in str(on_ray.value) and "response" in str(on_ray.value)


def test_row_groups_are_read_and_mapped_by_the_ray_data_workers(
    local_ray: None, tmp_path: Path
) -> None:
    """Row groups of partitions on a Ray Data pipeline: the local batches, on both workers."""
    rows = generated(ROW_GROUP_ROWS + 500, seed=3)
    files = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    write_partition(rows, files[0])
    write_partition(rows[:300], files[1])
    setup = OnLines(Ready(exact_keys))
    local = list(map_row_batches(LocalMapper(), setup, files))
    mapper = RayMapper(workers=2, cpus=2)
    on_ray = list(map_row_batches(mapper, setup, files))
    assert [(b.part, b.rows, b.result) for b in on_ray] == [
        (b.part, b.rows, b.result) for b in local
    ]
    assert [(b.part, b.rows.first) for b in on_ray] == [(0, 1), (0, ROW_GROUP_ROWS + 1), (1, 1)]
    assert len(mapper.worker_peaks) == 2  # the pipeline's two actors both read row groups


def test_pii_redact_on_partitions_runs_on_the_workers_with_the_local_result(
    local_ray: None, ray_ws: Workspace, tmp_path: Path
) -> None:
    """pii-redact over partitions: workers read, redact and write rows; same root and evidence."""
    pii_on_both(ray_ws, tmp_path, "pii-parts")
    assert ray_ws.get("dataset:pii-parts").format == "parquet-partitions"


def pii_on_both(ws: Workspace, tmp_path: Path, name: str) -> tuple[Any, Any]:
    """The demo's personal data three times over, as partitions registered as ``name``, through
    pii-redact on the local engine and on Ray: the same root and evidence, or fail."""
    demo = [json.loads(line) for line in (DEMO / "support_pii.jsonl").read_text().splitlines()]
    folder = _partitioned(tmp_path / "in", demo * 3)
    ref = ws.register_dataset(name, folder, shape="instruction").ref
    params = {"ner_model": None, "chinese_ner": False, "chunk_size": 4}
    local = _run(ws, "pii-redact", ref, params)
    on_ray = _run(ws, "pii-redact", ref, {**params, "engine": "ray"})
    assert on_ray[:2] == local[:2]
    (pii,) = [m for kind, m, _ in local[1] if kind == "pii"]
    assert pii["findings_before"] > 0 and pii["records"] == 3 * len(demo)
    return local, on_ray


def test_a_pool_the_cluster_cannot_place_fails_naming_it(
    local_ray: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers asking more CPUs than the cluster has: a clear error, not a pipeline that waits."""
    from lmops_ray import pipeline

    monkeypatch.setattr(pipeline, "ACTOR_START_TIMEOUT_S", 3)
    with pytest.raises(PluginError, match=r"could not start 1 data workers of 3 CPU each"):
        list(pipeline.run_planned(Ready(len), [[1]], workers=1, cpus_per_worker=3, peaks={}))
