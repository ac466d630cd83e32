"""Refusing names and URIs that would escape the place they must stay in.

User-given names (artifact member paths, bundle members, ONNX external data
locations) are checked *before* anything is joined to a base folder. Encoded
forms are decoded repeatedly, so ``%2e%2e%2f`` and ``%252e%252e%252f`` are
caught like ``../``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from lmops_core.errors import UnsafePathError

_MAX_DECODE_ROUNDS = 8


def _fully_decoded(name: str) -> str:
    current = name
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(current)
        if decoded == current:
            return current
        current = decoded
    raise UnsafePathError(f"refusing {name!r}: too many levels of percent-encoding")


def safe_relative_path(name: str, *, what: str = "path") -> PurePosixPath:
    """Validate a relative, forward-slash path that must stay inside its base.

    Refuses empty names, absolute paths (POSIX or Windows drive/UNC), any
    ``..`` segment, backslashes, NUL bytes, URI schemes such as ``file://``,
    and percent-encoded variants of all of these.
    """
    if not isinstance(name, str) or not name:
        raise UnsafePathError(f"refusing empty {what}")
    decoded = _fully_decoded(name)
    problems = []
    if "\x00" in decoded:
        problems.append("contains a NUL byte")
    if "\\" in decoded:
        problems.append("contains a backslash")
    if "://" in decoded or decoded.lower().startswith("file:"):
        problems.append("is a URI, not a relative path")
    if decoded.startswith("/") or (len(decoded) > 1 and decoded[1] == ":"):
        problems.append("is absolute")
    parts = PurePosixPath(decoded).parts
    if any(part == ".." for part in parts):
        problems.append("contains a '..' segment")
    if decoded != name and not problems and "%" in name:
        problems.append("is percent-encoded")
    if problems:
        raise UnsafePathError(f"refusing {what} {name!r}: it {', '.join(problems)}")
    clean = PurePosixPath(*[p for p in parts if p not in ("", ".")])
    if not clean.parts:
        raise UnsafePathError(f"refusing {what} {name!r}: it names no file")
    return clean


def join_inside(base: Path, name: str, *, what: str = "path") -> Path:
    """Join a validated relative name to ``base`` and check the result stays inside.

    Symlinks already on disk are resolved, so a link pointing out of ``base``
    is refused too.
    """
    rel = safe_relative_path(name, what=what)
    base_resolved = base.resolve()
    target = (base_resolved / Path(*rel.parts)).resolve()
    if target != base_resolved and base_resolved not in target.parents:
        raise UnsafePathError(f"refusing {what} {name!r}: it resolves outside {base}")
    return target


def is_inside(base: Path, candidate: Path) -> bool:
    """True when ``candidate`` (symlinks resolved) lies within ``base``."""
    b = base.resolve()
    c = Path(os.path.realpath(candidate))
    return c == b or b in c.parents
