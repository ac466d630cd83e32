"""Records per CPU-second of the data steps, the rates behind docs/scale.md's 1 TB plan.

1. Generate ``--records`` unique instruction records (seeded): a prompt and a response of
   8 to 60 words each (made-up words of two to four syllables); one record in ten is a
   support message carrying personal data (a name, an e-mail address, a phone number, a
   card number or an IBAN). After each, with probability ``--dup-share``, an exact copy of
   an earlier record. One JSONL file.
2. Run each stage in a fresh process, one process, the local engine:
   ``register_dataset`` (parse, validate, canonical JSON, card, SHA-256, store),
   ``dedup-exact``, ``dedup-near``, ``length-filter`` on the whole file, and ``pii-redact``
   (one worker) on the first ``--pii-records`` records at two sizes: its rate is the slope
   between them, and the intercept is what the run spends once (building the analyzer).
3. Print, per stage, records, CPU seconds (user + system of that process,
   ``resource.getrusage``), records per CPU-second, wall seconds and peak RSS, with the
   load average before and after. On a shared machine the CPU rate is the steady figure.
   With ``dedup-near``, also the bytes of Python objects its index holds per kept record
   (``tracemalloc``, the slope between the two ``--pii-records`` sizes), and the bytes of
   Python objects per byte of JSON of 20,000 parsed records.

    .venv/bin/python benchmarks/bench_rates.py [--records 200000] [--dup-share 0.05]
        [--pii-records 1000,5000] [--stages ingest,dedup-exact,dedup-near,length-filter,pii]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_presidio import LOCALES, make_card, make_iban, make_value  # noqa: E402
from bench_ray import PARAMS  # noqa: E402
from peak_rss import peak_rss_mib

#: The filters' parameters: the length bounds keep every generated record.
STEP_PARAMS = {**PARAMS, "length-filter": {"min_chars": 100, "max_chars": 1000}}
STAGES = ("ingest", "dedup-exact", "dedup-near", "length-filter", "pii")
_SYLLABLES = ("ka", "lo", "mi", "ne", "ra", "tu", "se", "vo", "di", "pa", "te", "gu", "sha", "rin")
_SUPPORT = (
    "Hello, this is {PERSON}. Please send the receipt to {EMAIL_ADDRESS}.",
    "My card {CREDIT_CARD} was charged twice, call me on {PHONE_NUMBER}.",
    "Refund the order to IBAN {IBAN_CODE}, the account of {PERSON}.",
    "I am {PERSON}, my phone is {PHONE_NUMBER} and my e-mail {EMAIL_ADDRESS}.",
)


def _vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    """Pronounceable lower-case words of two to four syllables."""
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(size)]


def _sentence(rng: random.Random, vocab: list[str]) -> str:
    words = [rng.choice(vocab) for _ in range(rng.randint(8, 60))]
    return " ".join(words).capitalize() + "."


def _support(rng: random.Random, vocab: list[str]) -> str:
    """A support message: one template with personal data, then plain words."""
    text = rng.choice(_SUPPORT)
    for slot in ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE"):
        while "{" + slot + "}" in text:
            value = {"CREDIT_CARD": make_card, "IBAN_CODE": make_iban}.get(slot)
            filled = value(rng) if value else make_value(rng, slot)
            text = text.replace("{" + slot + "}", filled, 1)
    rest = max(0, rng.randint(8, 60) - len(text.split()))
    return " ".join([text, *(rng.choice(vocab) for _ in range(rest))])


def generate(records: int, dup_share: float, seed: int = 18) -> Iterator[dict[str, str]]:
    """``records`` unique records; after each, with probability ``dup_share``, an exact
    copy of an earlier one (of the last 20,000)."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    recent: list[dict[str, str]] = []
    for i in range(records):
        prompt = _support(rng, vocab) if i % 10 == 0 else _sentence(rng, vocab)
        row = {"prompt": prompt, "response": _sentence(rng, vocab)}
        yield row
        if len(recent) < 20_000:
            recent.append(row)
        else:
            recent[rng.randrange(len(recent))] = row
        if rng.random() < dup_share:
            yield dict(rng.choice(recent))


def objects_per_json_byte(source: Path, count: int = 20_000) -> float:
    """Bytes of Python objects (``tracemalloc``) per byte of JSON, holding the first
    ``count`` records of ``source`` parsed."""
    import tracemalloc

    with source.open(encoding="utf-8") as src:
        lines = [line for _, line in zip(range(count), src, strict=False)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = [json.loads(line) for line in lines]
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del held
    return grown / sum(len(line.encode()) for line in lines)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _ingest(source: Path, home: Path) -> Callable[[], object]:
    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

    ws = Workspace.open(Settings(home=home, load_entry_points=False))
    return lambda: ws.register_dataset("bench", source, shape="instruction")


def _step(step: str, source: Path, home: Path) -> Callable[[], object]:
    op, context = _operation(step, source, home)
    return lambda: op.run(context)


def _operation(step: str, source: Path, home: Path) -> tuple[Any, Any]:
    """The built-in data step ``step`` and a context running it on ``source``, local engine."""
    from lmops_core.contracts import Stage, StageContext
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import Settings
    from lmops_core.testing import dataset_input

    host = load_plugins(Settings(home=home, load_entry_points=False))
    op = host.operation(Stage.DATA_PREPARATION, step).value
    options = op.params_model.model_validate({**STEP_PARAMS[step], "engine": "local"})
    context = StageContext(
        stage=Stage.DATA_PREPARATION,
        operation=step,
        inputs={"dataset": dataset_input(source, shape="instruction", ref="bench")},
        params=options.model_dump(),
        workdir=home / "work",
        actor="bench",
        run_id="bench",
        options=options,
        plugins=host,
    )
    return op, context


def _pii(source: Path, home: Path) -> Callable[[], object]:
    from lmops_presidio.step import PiiRedactionStep

    from lmops_core.contracts import NullProgress, Stage, StageContext
    from lmops_core.testing import dataset_input

    meta = {"locales": list(LOCALES)}
    context = StageContext(
        stage=Stage.DATA_PREPARATION,
        operation="pii-redact",
        inputs={"dataset": dataset_input(source, shape="instruction", ref="bench", metadata=meta)},
        params={"workers": 1},
        workdir=home / "work",
        actor="bench",
        run_id="bench",
        progress=NullProgress(),
    )
    return lambda: PiiRedactionStep().run(context)


def near_index(source: Path) -> None:
    """Bytes of Python objects ``dedup-near`` still holds after a run (its LSH index and
    shingle hashes, and what it imported; ``tracemalloc``) and how many records it kept."""
    import tracemalloc

    home = Path(tempfile.mkdtemp(prefix="lmops-bench-rates-"))
    (home / "work").mkdir()
    op, context = _operation("dedup-near", source, home)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = op.run(context)
    held = tracemalloc.get_traced_memory()[0] - before
    kept = result.evidence[0].metrics["records_out"]
    print(json.dumps({"kept": kept, "held": held}))
    shutil.rmtree(home, ignore_errors=True)


def child(stage: str, source: Path) -> None:
    """Run one stage on ``source`` once; print one JSON line."""
    home = Path(tempfile.mkdtemp(prefix="lmops-bench-rates-"))
    (home / "work").mkdir()
    build = {"ingest": _ingest, "pii": _pii}.get(stage)
    run = build(source, home) if build else _step(stage, source, home)
    cpu, wall = _cpu(), time.perf_counter()
    result = run()
    evidence = getattr(result, "evidence", None)
    print(
        json.dumps(
            {
                "removed": evidence[0].metrics.get("records_removed") if evidence else None,
                "cpu_s": _cpu() - cpu,
                "wall_s": time.perf_counter() - wall,
                "peak_mib": peak_rss_mib(),
            }
        )
    )
    shutil.rmtree(home, ignore_errors=True)


def _measure(stage: str, source: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", stage, str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{stage} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="unique records")
    parser.add_argument("--dup-share", type=float, default=0.05)
    parser.add_argument("--pii-records", default="1000,5000", help="two pii-redact sizes")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child and args.child[0] == "near-index":
        near_index(Path(args.child[1]))
        return
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    small, large = (int(n) for n in args.pii_records.split(","))
    with tempfile.TemporaryDirectory(prefix="lmops-bench-rates-") as scratch:
        files = {
            name: Path(scratch) / f"{name}.jsonl" for name in ("all", "pii-small", "pii-large")
        }
        total = size = 0
        with files["all"].open("w", encoding="utf-8") as out:
            for row in generate(args.records, args.dup_share):
                line = json.dumps(row, ensure_ascii=False) + "\n"
                out.write(line)
                total, size = total + 1, size + len(line.encode())
        with files["all"].open(encoding="utf-8") as src:
            head = [next(src) for _ in range(large)]
        files["pii-small"].write_text("".join(head[:small]), encoding="utf-8")
        files["pii-large"].write_text("".join(head), encoding="utf-8")
        print(
            f"{total:,} records, {size / total:,.0f} bytes each on average; parsed, "
            f"{objects_per_json_byte(files['all']):.2f} bytes of Python objects per byte "
            "of JSON (tracemalloc, the first 20,000)"
        )
        print(f"load average before: {_load()}", flush=True)
        print(
            f"{'stage':<16}{'records':>9}{'CPU s':>9}{'rec/CPU-s':>11}{'wall s':>9}"
            f"{'peak MiB':>10}{'removed':>9}"
        )
        for stage in args.stages.split(","):
            runs = (
                [("pii-small", small), ("pii-large", large)] if stage == "pii" else [("all", total)]
            )
            measured = []
            for name, count in runs:
                r = _measure(stage, files[name])
                measured.append((count, r))
                print(
                    f"{stage:<16}{count:>9,}{r['cpu_s']:>9.1f}{count / r['cpu_s']:>11,.0f}"
                    f"{r['wall_s']:>9.1f}{r['peak_mib']:>10.0f}{r['removed'] if r['removed'] is not None else '-':>9}",
                    flush=True,
                )
            if stage == "pii":
                (n1, r1), (n2, r2) = measured
                slope = (n2 - n1) / (r2["cpu_s"] - r1["cpu_s"])
                once = r1["cpu_s"] - n1 / slope
                print(
                    f"pii-redact slope: {slope:,.0f} records per CPU-second, {once:.1f} CPU-s once"
                )
        if "dedup-near" in args.stages.split(","):
            # The slope between two sizes: what each kept record adds to the index.
            a, b = (_measure("near-index", files[n]) for n in ("pii-small", "pii-large"))
            per_kept = (b["held"] - a["held"]) / (b["kept"] - a["kept"])
            print(
                f"dedup-near holds {per_kept:,.0f} bytes of Python objects per kept record "
                f"(tracemalloc, the slope between {a['kept']:,} and {b['kept']:,} kept)"
            )
        print(f"load average after: {_load()}")


if __name__ == "__main__":
    main()
