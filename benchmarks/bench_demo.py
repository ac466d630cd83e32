"""How long ``lmops demo`` takes, step by step, against the one-minute budget it promises.

Runs the demo's pipeline in this process exactly as ``lmops demo`` does (same
store layout, same quiet libraries, one torch thread) on a fresh ``LMOPS_HOME``
in a temporary folder, and prints for every step its wall-clock seconds and the
CPU seconds it used (this process and any it started). Then, with
``--cli-runs N``, it runs the real command ``lmops demo`` N times in a fresh
interpreter each and prints its wall time from start to its final line, as a
user sees it, and the ratio to the 60 s budget. The load average is printed
beside each figure: the machine may be shared, and on a busy machine wall time is
mostly waiting for a CPU (CPU seconds are the steadier figure).

    .venv/bin/python benchmarks/bench_demo.py --cli-runs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

BUDGET_S = 60.0


def cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for, user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


def in_process() -> None:
    """Every step of the demo's pipeline, timed, in this process."""
    from lmops_core.cli.demo import quiet_libraries, run_demo
    from lmops_core.pipelines import StepResult

    quiet_libraries()
    rows: list[tuple[str, float, float]] = []
    mark = {"wall": time.perf_counter(), "cpu": cpu_seconds()}
    started = dict(mark)

    def report(event: str, label: str, result: StepResult | None) -> None:
        if event == "start":
            mark.update(wall=time.perf_counter(), cpu=cpu_seconds())
            return
        # When a step is done, ``label`` is its id.
        rows.append((label, time.perf_counter() - mark["wall"], cpu_seconds() - mark["cpu"]))

    ws, _ = run_demo(reporter=report)
    ws.close()
    total_wall = time.perf_counter() - started["wall"]
    total_cpu = cpu_seconds() - started["cpu"]
    print(f"{'step':<16} {'wall s':>7} {'cpu s':>7}")
    for label, wall, cpu in rows:
        print(f"{label:<16} {wall:7.1f} {cpu:7.1f}")
    steps_wall = sum(r[1] for r in rows)
    print(f"{'(opening)':<16} {total_wall - steps_wall:7.1f}")
    print(f"{'total':<16} {total_wall:7.1f} {total_cpu:7.1f}   ({load()})")


def cli_runs(n: int) -> None:
    """``lmops demo`` as a user runs it, in a fresh interpreter, ``n`` times."""
    # This interpreter and its import path, as the `lmops` script would run it.
    lmops = [sys.executable, "-c", "import sys; from lmops_core.cli import main; sys.exit(main())"]
    for i in range(n):
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as home:
            env = {**os.environ, "LMOPS_HOME": home}
            before = load()
            cpu0 = cpu_seconds()
            t0 = time.perf_counter()
            out = subprocess.run([*lmops, "demo"], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            cpu = cpu_seconds() - cpu0
            if out.returncode != 0:
                sys.exit(f"lmops demo failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
            print(
                f"lmops demo run {i + 1}: wall {wall:.1f} s, cpu {cpu:.1f} s, "
                f"{wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget "
                f"({before} before, {load()} after)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli-runs", type=int, default=0, help="also time `lmops demo` N times")
    parser.add_argument("--no-steps", action="store_true", help="skip the in-process step table")
    args = parser.parse_args()
    if not args.no_steps:
        with tempfile.TemporaryDirectory(prefix="bench-demo-") as home:
            os.environ["LMOPS_HOME"] = home
            in_process()
    cli_runs(args.cli_runs)


if __name__ == "__main__":
    main()
