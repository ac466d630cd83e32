"""Partitioned dataset versions: Merkle root, deterministic partitions, verification, card merge.

One store (module scope) holds the same 600 records registered twice: as one JSONL file and
as a folder of three Parquet partitions; the tests that change the store use their own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.datasets.merkle import merkle_root
from lmops_core.datasets.partitions import (
    PartitionManifest,
    partition_files,
    read_partition_records,
    write_partition,
)
from lmops_core.errors import IntegrityError, NotFoundError, ValidationError
from lmops_core.registry.schemas import DatasetVersionPublic
from lmops_core.workspace import Workspace
from tests.conftest import make_settings, write_jsonl

PARTS = ("part-0.parquet", "part-1.parquet", "part-2.parquet")
ROWS = 200


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(len(PARTS) * ROWS):
        if i % 7 == 3:
            prompt, response = f"问题 {i % 5} 是什么?", "答案" * (1 + i % 9)
        else:
            prompt, response = f"What is {i % 150} + 1?", f"It is {i % 150 + 1}." + "!" * (i % 13)
        # Every record has the same keys: typed Parquet columns pad a missing key with null.
        out.append({"prompt": prompt, "response": response, "meta": {"n": i % 3}})
    return out


RECORDS = _records()


def _write_parts(folder: Path, records: list[dict[str, Any]]) -> Path:
    """The records as user Parquet files (typed columns), ROWS per file."""
    folder.mkdir(parents=True)
    for k, name in enumerate(PARTS):
        pq.write_table(pa.Table.from_pylist(records[k * ROWS : (k + 1) * ROWS]), folder / name)
    (folder / "_SUCCESS").write_bytes(b"")  # left by Spark, skipped
    return folder


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    root = tmp_path_factory.mktemp("partitions")
    ws = Workspace.open(make_settings(root / "home"))
    _write_parts(root / "parts", RECORDS)
    ws.register_dataset("whole", write_jsonl(root / "whole.jsonl", RECORDS), shape="instruction")
    ws.register_dataset("parts", root / "parts", shape="instruction")
    yield ws, root
    ws.close()


def _dataset(ws: Workspace, ref: str) -> DatasetVersionPublic:
    version = ws.get(ref)
    assert isinstance(version, DatasetVersionPublic)
    return version


def _manifest(ws: Workspace, version: DatasetVersionPublic) -> PartitionManifest:
    assert version.manifest_digest is not None
    data = ws.artifacts.read_bytes(version.manifest_digest)
    return PartitionManifest.from_bytes(data, digest=version.manifest_digest)


def _blob(ws: Workspace, digest: str) -> Path:
    hx = digest.split(":", 1)[1]
    return ws.settings.home / "artifacts" / "blobs" / "sha256" / hx[:2] / hx[2:]


# -- the Merkle root ------------------------------------------------------------------------


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def test_merkle_root_follows_the_documented_construction() -> None:
    leaves = [f"sha256:{hashlib.sha256(bytes([i])).hexdigest()}" for i in range(3)]
    leaf, node = b"\x00", b"\x01"
    a, b, c = (_h(leaf, bytes.fromhex(d[7:])) for d in leaves)
    assert merkle_root(leaves[:1]) == "sha256:" + a.hex()
    assert merkle_root(leaves[:2]) == "sha256:" + _h(node, a, b).hex()
    # An odd last node is carried up, not paired with itself.
    assert merkle_root(leaves) == "sha256:" + _h(node, _h(node, a, b), c).hex()
    assert merkle_root(leaves) != merkle_root([*leaves, leaves[2]])
    assert merkle_root(leaves) != merkle_root(list(reversed(leaves)))
    with pytest.raises(ValidationError, match="at least one partition"):
        merkle_root([])


def test_the_same_records_give_byte_identical_partitions(tmp_path: Path) -> None:
    one = write_partition(RECORDS[:ROWS], tmp_path / "a.parquet")
    two = write_partition(RECORDS[:ROWS], tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert one.digest == two.digest and one.rows == ROWS
    back = [record for _, record in read_partition_records(tmp_path / "a.parquet")]
    assert back == RECORDS[:ROWS]
    mixed = [{"text": "a", "x": [1, {"y": None}]}, {"text": "b"}, {"text": "c", "x": 2.5}]
    write_partition(mixed, tmp_path / "m.parquet")  # records of different keys and types
    assert [r for _, r in read_partition_records(tmp_path / "m.parquet")] == mixed
    other = write_partition(RECORDS[1 : ROWS + 1], tmp_path / "c.parquet")
    assert other.digest != one.digest


# -- registering ----------------------------------------------------------------------------


def test_a_folder_registers_partition_by_partition(store: tuple[Workspace, Path]) -> None:
    ws, _ = store
    version = _dataset(ws, "dataset:parts@1")
    manifest = _manifest(ws, version)
    assert version.format == "parquet-partitions" and version.record_count == len(RECORDS)
    assert [p.name for p in manifest.partitions] == list(PARTS)
    assert [p.rows for p in manifest.partitions] == [ROWS] * len(PARTS)
    assert version.digest == merkle_root([p.digest for p in manifest.partitions])
    for p in manifest.partitions:  # each partition is its own content-addressed artifact
        assert ws.artifacts.backend.verify(p.digest)
    # The store keeps the partitions: gc deletes none of them.
    ws.gc(older_than_seconds=0)
    assert ws.verify_dataset(version.ref).ok


def test_the_merged_card_equals_the_single_file_card(store: tuple[Workspace, Path]) -> None:
    ws, _ = store
    whole = ws.evidence("dataset:whole@1", kind="dataset_card")[-1]
    parts = ws.evidence("dataset:parts@1", kind="dataset_card")[-1]
    assert parts.metrics["duplicates"] > 0 and parts.metrics["lang.zh"] > 0
    # What differs, and only that: the content digest (a Merkle root, not a file digest) and
    # the per-partition summaries the partitioned card adds.
    assert parts.metrics["content_digest"] == parts.subject_digest
    assert {k: v for k, v in parts.metrics.items() if k != "content_digest"} == {
        k: v for k, v in whole.metrics.items() if k != "content_digest"
    }
    summaries = parts.details.pop("partitions")
    assert parts.details == whole.details
    assert [s["name"] for s in summaries] == list(PARTS)
    assert sum(s["records"] for s in summaries) == len(RECORDS)


def test_a_bad_record_in_a_partition_registers_nothing(tmp_path: Path, sqlite_home: Path) -> None:
    bad = [dict(r) for r in RECORDS]
    bad[ROWS + 4] = {"prompt": "p", "response": ""}
    _write_parts(tmp_path / "parts", bad)
    with Workspace.open(make_settings(sqlite_home)) as ws:
        with pytest.raises(ValidationError, match=r"part-1\.parquet:row 5: response: must not"):
            ws.register_dataset("bad", tmp_path / "parts", shape="instruction")
        with pytest.raises(NotFoundError):
            ws.get("dataset:bad@latest")
        kept = ws.register_dataset(
            "bad", tmp_path / "parts", shape="instruction", drop_invalid=True
        )
        assert kept.record_count == len(RECORDS) - 1  # type: ignore[attr-defined]


def test_nested_partitions_are_named_by_path_and_foreign_files_refused(
    tmp_path: Path, sqlite_home: Path
) -> None:
    folder = tmp_path / "hive"
    for year in ("2025", "2024"):
        (folder / f"year={year}").mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(RECORDS[:3]), folder / f"year={year}/p.parquet")
    (folder / "year=2024" / ".p.parquet.crc").write_bytes(b"skipped")
    assert [n for n, _ in partition_files(folder)] == ["year=2024/p.parquet", "year=2025/p.parquet"]
    pq.write_table(pa.Table.from_pylist([{"prompt": "p"}]), folder / "year=2025/p.parquet")
    with (
        Workspace.open(make_settings(sqlite_home)) as ws,
        pytest.raises(ValidationError, match=r"^partition year=2025/p\.parquet: p\.parquet:row 1"),
    ):
        ws.register_dataset("hive", folder, shape="instruction")
    (folder / "notes.txt").write_text("x")
    with pytest.raises(ValidationError, match=r"notes\.txt in .* is not a Parquet partition"):
        partition_files(folder)


# -- verifying ------------------------------------------------------------------------------


@pytest.fixture
def damaged(tmp_path: Path, sqlite_home: Path) -> Iterator[tuple[Workspace, DatasetVersionPublic]]:
    _write_parts(tmp_path / "parts", RECORDS)
    with Workspace.open(make_settings(sqlite_home)) as ws:
        ws.register_dataset("parts", tmp_path / "parts", shape="instruction")
        yield ws, _dataset(ws, "dataset:parts@1")


def test_verify_names_the_changed_and_the_missing_partition(
    damaged: tuple[Workspace, DatasetVersionPublic],
) -> None:
    ws, version = damaged
    first, middle, last = _manifest(ws, version).partitions
    changed = _blob(ws, middle.digest)
    changed.chmod(0o644)
    changed.write_bytes(changed.read_bytes()[:-1] + b"\x00")
    _blob(ws, last.digest).unlink()
    result = ws.verify_dataset(version.ref, workers=2)
    assert not result.ok
    assert [(p.name, p.status) for p in result.partitions] == [
        (first.name, "ok"),
        (middle.name, "changed"),
        (last.name, "missing"),
    ]


def test_a_tampered_manifest_fails_verification(
    damaged: tuple[Workspace, DatasetVersionPublic],
) -> None:
    ws, version = damaged
    assert version.manifest_digest is not None
    body = json.loads(ws.artifacts.read_bytes(version.manifest_digest))
    body["entries"].pop()  # drop a partition, and record the new root: a consistent lie
    shorter = [e["digest"] for e in body["entries"]]
    body["dataset"]["root"] = merkle_root(shorter)
    forged = ws.artifacts.put_bytes(json.dumps(body).encode()).digest
    with pytest.raises(IntegrityError, match="is not the version's digest"):
        from lmops_core.datasets.partition_store import verify_partitions

        verify_partitions(ws.artifacts, forged, root=version.digest)
    body["dataset"]["root"] = version.digest  # claim the old root: the partitions disagree
    lying = ws.artifacts.put_bytes(json.dumps(body).encode()).digest
    with pytest.raises(IntegrityError, match="Merkle root .* is not the root it records"):
        verify_partitions(ws.artifacts, lying, root=version.digest)
    blob = _blob(ws, version.manifest_digest)  # edited in place: its own digest fails
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes().replace(b'"rows":200', b'"rows":201', 1))
    with pytest.raises(IntegrityError):
        ws.verify_dataset(version.ref)


# -- data steps and the CLI -----------------------------------------------------------------


def test_a_data_step_reads_and_writes_partitions(store: tuple[Workspace, Path]) -> None:
    ws, _ = store
    runs = {
        name: ws.run_stage(
            "data_preparation", "dedup-exact", inputs={"dataset": f"dataset:{name}@1"}
        ).output("dataset")
        for name in ("whole", "parts")
    }
    whole, parts = _dataset(ws, runs["whole"]), _dataset(ws, runs["parts"])
    assert parts.format == "parquet-partitions" and whole.format == "jsonl"
    assert parts.record_count == whole.record_count < len(RECORDS)
    assert [e.parent for e in ws.lineage(parts.ref, depth=1)] == ["dataset:parts@1"]
    manifest = _manifest(ws, parts)
    assert [p.name for p in manifest.partitions] == list(PARTS)
    out = ws.export(parts.ref, ws.settings.home / "exported")
    kept = [r for name, path in partition_files(out) for _, r in read_partition_records(path)]
    exported = ws.export(whole.ref, ws.settings.home / "whole.jsonl")
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert kept == [json.loads(line) for line in lines]


def test_cli_registers_a_folder_and_verify_names_a_bad_partition(tmp_path: Path) -> None:
    folder = _write_parts(tmp_path / "parts", RECORDS)
    env = {"LMOPS_HOME": str(tmp_path / "home"), "LMOPS_ACTOR": "cli-user"}
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["datasets", "register", "p", str(folder), "--shape", "instruction", "--partitioned"],
        env=env,
    )
    assert done.exit_code == 0, done.output
    assert f"{len(RECORDS)} records in partitions" in done.output
    checked = runner.invoke(app, ["datasets", "verify", "p@1", "--json"], env=env)
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] is True
    with Workspace.open(make_settings(tmp_path / "home")) as ws:
        middle = _manifest(ws, _dataset(ws, "dataset:p@1")).partitions[1]
        blob = _blob(ws, middle.digest)
    blob.chmod(0o644)
    blob.write_bytes(b"PAR1 not any more")
    failed = runner.invoke(app, ["datasets", "verify", "p@1"], env=env)
    assert failed.exit_code == ExitCode.INTEGRITY
    assert "partition part-1.parquet is changed" in failed.output
    not_folder = runner.invoke(
        app,
        [
            "datasets",
            "register",
            "q",
            str(folder / PARTS[0]),
            "--shape",
            "instruction",
            "--partitioned",
        ],
        env=env,
    )
    assert not_folder.exit_code == 2 and "not a folder of partitions" in not_folder.output
