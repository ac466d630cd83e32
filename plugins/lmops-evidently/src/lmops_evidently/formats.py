"""Which file format a window is stored in: JSONL or Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from lmops_core.errors import ValidationError

WindowFormat = Literal["jsonl", "parquet"]

PARQUET_MAGIC = b"PAR1"
"""The first (and last) four bytes of every Parquet file."""

_SNIFF_BYTES = 4096
_UTF8_BOM = b"\xef\xbb\xbf"


def window_format(path: Path) -> WindowFormat:
    """``"parquet"`` or ``"jsonl"``, decided by the file's first bytes.

    The core materialises every dataset version under the same name whatever
    its format, so the content decides, not the suffix: a Parquet file starts
    with ``PAR1``; a JSONL window's first non-blank byte opens a JSON object
    (a blank file is an empty JSONL window). Anything else is refused here,
    naming the file, rather than failing later as malformed JSON.
    """
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if path.suffix.lower() == ".parquet":
        raise ValidationError(
            f"{path}: not a Parquet file (it does not start with the PAR1 magic bytes)",
            file=str(path),
        )
    text = head.removeprefix(_UTF8_BOM).lstrip()
    if not text or text.startswith(b"{"):
        return "jsonl"
    raise ValidationError(
        f"{path}: neither a JSONL window (one JSON object per line) nor a Parquet file; "
        f"it starts with {text[:16]!r}",
        file=str(path),
    )
