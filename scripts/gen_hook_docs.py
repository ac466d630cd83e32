"""Write docs/hooks.md from the hook specs' signatures and docstrings.

.venv/bin/python scripts/gen_hook_docs.py          # rewrite docs/hooks.md
.venv/bin/python scripts/gen_hook_docs.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from lmops_core import hookspecs

OUT = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"


def render() -> str:
    """The hook reference, in the order the specs are declared (lifecycle order)."""
    source = inspect.getsource(hookspecs)
    names = [n for n, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "lmops_spec")]
    names.sort(key=lambda n: source.index(f"def {n}("))
    lines = [
        "# Hook reference",
        "",
        "Generated from `src/lmops_core/hookspecs.py` by `scripts/gen_hook_docs.py`; do not edit.",
        "Implement hooks with `from lmops_core import hookimpl` in a module exposed through the",
        "`lmops` entry-point group. Ask only for the arguments you use.",
        "",
        inspect.getdoc(hookspecs) or "",
        "",
    ]
    for name in names:
        fn = getattr(hookspecs, name)
        opts = fn.lmops_spec
        first = " (firstresult: the first non-None result wins)" if opts.get("firstresult") else ""
        lines += [
            f"## `{name}{inspect.signature(fn)}`",
            "",
            f"*Hook spec*{first}.",
            "",
            inspect.getdoc(fn) or "",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    from docgen import regenerate

    sys.exit(regenerate(OUT, lambda _current: render(), __doc__.splitlines()[0]))
