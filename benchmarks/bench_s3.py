"""Ingesting a 1 GiB model folder into an S3-compatible store: lmops against boto3's own upload.

1. Generate a model folder of random bytes in a temporary folder: 4 x 256 MiB weight
   shards plus small files (config, tokenizer, README), 1 GiB in all (``--shard-mib``
   and ``--shards`` change it).
2. Start moto's standalone S3 server on loopback (``lmops_s3.testing.MotoServer``: the
   same server the tests use) and warm it and both clients up with one small upload.
3. In the same run, against the same server, each in a fresh subprocess that reports its
   peak RSS (its own ``VmHWM``, see ``peak_rss.py``):
   - baseline: boto3's managed upload (``client.upload_file``, its default transfer
     config: 8 MiB parts, 10 threads) of every file under a plain key;
   - lmops: the same files through ``ArtifactStore.put_files`` on the ``s3://`` backend
     (each file hashed once, the next one while this one is sent; lease; multipart upload
     to the digest's key, each part read from the file again and checked against the
     CRC32 the hash took), then the folder's manifest, all inside one lease.
   ``--with-check`` adds ``ArtifactStore.put_tree`` (what ``register_model`` runs), which
   also checks the files' formats: on a remote store it copies the folder privately,
   checks the copy and stores it.
   The two alternate (``--rounds``, default 2: boto3, lmops, lmops, boto3), so a load that
   drifts during the run favours neither, and every upload's objects are deleted after it
   (moto keeps what it stores in its own process): each upload finds the server empty.
4. Print the best round's throughput of both (MiB/s of file bytes), the ratio lmops / boto3
   (target >= 0.8) and lmops' peak RSS over its rounds (target <= 200 MB); then each round's
   own ratio (its two uploads ran back to back, so they saw about the same load), and the
   CPU seconds per GiB of each side's client and of the server while it served it (steadier
   than wall time on a shared machine), with the load average.

    .venv/bin/python benchmarks/bench_s3.py [--shards 4] [--shard-mib 256] [--rounds 2]
        [--with-check]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MiB = 1 << 20
GiB = 1 << 30

CHILD = r"""
import json, resource, sys, time
from peak_rss import peak_rss_kib
from pathlib import Path
mode, folder, uri, endpoint, key, secret = sys.argv[1:7]
files = sorted(p for p in Path(folder).rglob("*") if p.is_file())

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
if mode == "boto3":
    import boto3
    client = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    ).client("s3", endpoint_url=endpoint)
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    start, cpu_start = time.perf_counter(), cpu()
    for path in files:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")
    seconds = time.perf_counter() - start
else:
    from lmops_core.artifacts.store import ArtifactStore
    from lmops_s3.backend import S3ArtifactBackend
    from lmops_s3.settings import S3Settings
    import boto3
    session = boto3.session.Session(
        aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )
    settings = S3Settings(endpoint_url=endpoint, region="us-east-1")
    store = ArtifactStore(S3ArtifactBackend.connect(uri, settings, session=session))
    start, cpu_start = time.perf_counter(), cpu()
    with store.lease("bench"):
        if mode == "lmops-tree":
            store.put_tree(Path(folder))
        else:
            from lmops_core.artifacts.store import TreeEntry, TreeManifest
            infos = store.put_files(files)
            entries = [
                TreeEntry(str(p.relative_to(folder)), i.digest, i.size) for p, i in zip(files, infos)
            ]
            store.put_bytes(TreeManifest(entries=tuple(entries)).to_bytes())
    seconds = time.perf_counter() - start
cpu_seconds = cpu() - cpu_start
rss = peak_rss_kib() * 1024  # the child's own peak (ru_maxrss would carry the parent's)
print(json.dumps({"seconds": seconds, "cpu": cpu_seconds, "peak_rss": rss}))
"""


def make_folder(root: Path, shards: int, shard_mib: int) -> int:
    """Random weight shards (real safetensors headers) and small files; total bytes."""
    root.mkdir(parents=True)
    total = 0
    for i in range(shards):
        payload = shard_mib * MiB - 256
        header = json.dumps(
            {"w": {"dtype": "U8", "shape": [payload], "data_offsets": [0, payload]}}
        ).encode()
        header += b" " * (256 - 8 - len(header))
        path = root / f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        with open(path, "wb") as fh:
            fh.write(len(header).to_bytes(8, "little") + header)
            for _ in range(payload // MiB):
                fh.write(os.urandom(MiB))
            fh.write(os.urandom(payload % MiB))
        total += path.stat().st_size
    small = {
        "config.json": json.dumps({"model_type": "bench", "layers": shards}),
        "tokenizer_config.json": json.dumps({"model_max_length": 2048}),
        "tokenizer.json": json.dumps({"vocab": {f"t{i}": i for i in range(20000)}}),
        "README.md": "# bench model\n" * 50,
    }
    for name, text in small.items():
        (root / name).write_text(text)
        total += (root / name).stat().st_size
    return total


def server_cpu(server: object) -> float:
    """CPU seconds the server process has used so far (Linux: from /proc)."""
    pid = server.process.pid  # type: ignore[attr-defined]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(mode: str, folder: Path, uri: str, server: object) -> dict[str, float]:
    """One upload in a fresh process: its seconds, its CPU seconds and the server's, peak RSS."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [mode, str(folder), uri, server.endpoint, server.access_key, server.secret_key]  # type: ignore[attr-defined]
    before = server_cpu(server)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{out.stderr}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server_cpu"] = server_cpu(server) - before
    return result


def empty(server: object, uri: str) -> None:
    """Delete every object under ``uri``'s prefix, so the next upload finds the server empty."""
    client = server.client()  # type: ignore[attr-defined]
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--shard-mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2, help="uploads each way, alternated")
    parser.add_argument("--with-check", action="store_true", help="also time put_tree")
    args = parser.parse_args()

    from lmops_s3.testing import MotoServer

    with tempfile.TemporaryDirectory(prefix="lmops-bench-s3-") as scratch:
        folder = Path(scratch) / "model"
        t = time.perf_counter()
        total = make_folder(folder, args.shards, args.shard_mib)
        print(f"model folder: {total / MiB:.0f} MiB in {time.perf_counter() - t:.1f} s")
        server = MotoServer.start()
        try:
            warm = Path(scratch) / "warm"
            make_folder(warm, 1, 9)  # two parts each way: both clients and the server warm
            for mode in ("boto3", "lmops"):
                run_child(mode, warm, server.fresh_uri(), server)
            # Alternated (boto3, lmops, lmops, boto3, ...): a machine whose load drifts during
            # the run favours neither; each side's best round is compared.
            runs: dict[str, list[dict[str, float]]] = {"boto3": [], "lmops": []}
            for round_ in range(args.rounds):
                order = ("boto3", "lmops") if round_ % 2 == 0 else ("lmops", "boto3")
                for mode in order:
                    uri = server.fresh_uri()
                    row = run_child(mode, folder, uri, server)
                    empty(server, uri)
                    runs[mode].append(row)
                    print(f"round {round_ + 1} {mode:<6} {_row(row, total)}", flush=True)
            base = min(runs["boto3"], key=lambda r: r["seconds"])
            mine = min(runs["lmops"], key=lambda r: r["seconds"])
            mine = {**mine, "peak_rss": max(r["peak_rss"] for r in runs["lmops"])}
            rows = [("boto3 upload_file", base), ("lmops put_files", mine)]
            if args.with_check:
                tree = run_child("lmops-tree", folder, server.fresh_uri(), server)
                rows.append(("lmops put_tree", tree))
        finally:
            server.stop()
    print(f"\nbest of {args.rounds} rounds each, {total / MiB:.0f} MiB")
    print(f"{'client':<20} {'seconds':>8} {'MiB/s':>8} {'peak RSS MB':>12} {'CPU-s/GiB':>10}")
    for name, row in rows:
        rate = total / MiB / row["seconds"]
        print(
            f"{name:<20} {row['seconds']:8.1f} {rate:8.1f} {row['peak_rss'] / 1e6:12.0f} "
            f"{row['cpu'] / (total / GiB):10.2f}"
        )
    ratio = base["seconds"] / mine["seconds"]
    print(f"\nratio lmops / boto3 throughput: {ratio:.2f}x (target >= 0.8x)")
    paired = [
        b["seconds"] / m["seconds"] for b, m in zip(runs["boto3"], runs["lmops"], strict=True)
    ]
    print("each round's ratio: " + ", ".join(f"{r:.2f}x" for r in paired))
    print(f"lmops peak RSS: {mine['peak_rss'] / 1e6:.0f} MB (target <= 200 MB)")
    # CPU time varies less than wall time on a shared machine: the work each side costs.
    work = {
        mode: sum(r["cpu"] + r["server_cpu"] for r in rows_) / len(rows_)
        for mode, rows_ in runs.items()
    }
    print(
        "client + server CPU-s per GiB, mean of the rounds: "
        f"boto3 {work['boto3'] / (total / GiB):.2f}, lmops {work['lmops'] / (total / GiB):.2f} "
        f"(ratio {work['boto3'] / work['lmops']:.2f}x)"
    )
    print(
        "load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    )


def _row(row: dict[str, float], total: int) -> str:
    gib = total / GiB
    return (
        f"{row['seconds']:7.1f} s, client {row['cpu'] / gib:5.2f} CPU-s/GiB, server "
        f"{row['server_cpu'] / gib:5.2f} CPU-s/GiB, peak RSS {row['peak_rss'] / 1e6:4.0f} MB, "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
