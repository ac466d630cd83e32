"""Run one Markdown file's code blocks in order (called by the docs test, in a temp folder).

Usage: python run_snippets.py BLOCKS.json. Python blocks share one namespace; shell blocks run
under ``bash -euo pipefail``. The first failing block stops the run, named by file and line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        todo = json.load(fh)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for block in todo:
        where, started = block["where"], time.perf_counter()
        print(f"--- {where} ({block['language']})", flush=True)
        if block["language"] == "python":
            try:
                exec(compile(block["text"], where, "exec"), namespace)  # noqa: S102
            except BaseException:  # noqa: BLE001 - report any failure with the block named
                traceback.print_exc()
                print(f"FAILED: the python block at {where}", flush=True)
                return 1
        else:
            sys.stdout.flush()
            done = subprocess.run(["bash", "-euo", "pipefail", "-c", block["text"]], check=False)
            if done.returncode != 0:
                print(f"FAILED: the shell block at {where} exited {done.returncode}", flush=True)
                return 1
        print(f"--- {where} ok in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
