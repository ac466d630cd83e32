"""The command line every docs generator in scripts/ shares: rewrite a doc, or ``--check`` it.

A generator passes the doc's path and a function from the doc's current text to
its fresh text; run as a script, scripts/ is on ``sys.path``, so
``from docgen import regenerate`` finds this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def regenerate(doc: Path, fresh: Callable[[str], str], description: str) -> int:
    """Write ``fresh(current text)`` to ``doc``; with ``--check`` exit 1 instead when it differs."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if {doc.name} is stale")
    args = parser.parse_args()
    current = doc.read_text(encoding="utf-8") if doc.exists() else ""
    new = fresh(current)
    if args.check:
        if new != current:
            print(f"{doc} is stale: run scripts/{Path(sys.argv[0]).name}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(new, encoding="utf-8")
    return 0
