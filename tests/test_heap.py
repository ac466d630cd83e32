"""settle_heap: one collection, then what lives is frozen, once per process."""

from __future__ import annotations

import subprocess
import sys

_SETTLE = """
import gc
from lmops_core.heap import settle_heap

class Made:  # tracked by the collector (a dict of strings would not be)
    pass

before = Made()
first_call = settle_heap()
frozen = gc.get_freeze_count()
after = Made()
second_call = settle_heap()
tracked = gc.get_objects()
print(first_call, second_call, frozen > 0, gc.get_freeze_count() <= frozen,
      any(o is before for o in tracked), any(o is after for o in tracked))
"""


def test_settling_freezes_what_lives_then_and_only_once() -> None:
    # A fresh interpreter: freezing is for the whole process, and pytest's must stay as it is.
    done = subprocess.run(
        [sys.executable, "-c", _SETTLE], capture_output=True, text=True, check=True, timeout=600
    )
    assert done.stdout.split() == ["True", "False", "True", "True", "False", "True"]
