"""``dedup-near``'s per-record work, computed a chunk at a time.

A chunk's records become one :class:`NearChunk`: for each record with text to
compare, the 64-bit hashes of its distinct word shingles (for the exact Jaccard
check) and its MinHash hash values (for datasketch's LSH index).

The MinHash values are datasketch's, bit for bit, without one ``MinHash`` object per
record (each of which draws its permutations again from a seeded generator): the
permutations are read once per worker from a ``datasketch.MinHash(seed=1)``, each
shingle is hashed once (SHA-1, whose first 4 bytes are datasketch's default
``sha1_hash32`` and first 8 the exact-check hash), and every record of a chunk is
permuted in one numpy pass with datasketch's ``affine32`` scheme. :class:`Permuter`
checks this against datasketch's own ``MinHash`` when a worker starts, so a
datasketch that hashes differently fails closed instead of indexing other values.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lmops_core.errors import StageError
from lmops_core.extras import require

_WORD = re.compile(r"\w+", re.UNICODE)

#: Shingles permuted in one numpy pass (bounds the pass's memory: this times num_perm times 4 bytes).
BLOCK_SHINGLES = 16_384

#: What ``dedup-near`` may compare, per shape: record fields, or message roles for dialogues.
NEAR_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "instruction": ("system", "prompt", "response"),
    "preference": ("system", "prompt", "chosen", "rejected"),
    "dialogue": ("system", "user", "assistant"),
}


def compared_text(shape: str, record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The text of ``fields`` in ``record``, in record order (dialogue: by message role)."""
    if shape == "dialogue":
        parts = [m["content"] for m in record["messages"] if m.get("role") in fields]
    else:
        parts = [
            record[f] for f in NEAR_FIELDS[shape] if f in fields and isinstance(record.get(f), str)
        ]
    return "\n".join(parts)


def shingles(text: str, size: int) -> set[str]:
    """Word shingles of ``text`` (character shingles when it has too few words)."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    if len(words) < size:
        # Short or CJK text without spaces: fall back to character shingles.
        last = max(1, len(lowered) - size + 1)
        return {lowered[i : i + size] for i in range(last)}
    # The i-th word list is i words shorter: zip stops at the last whole shingle.
    return set(map(" ".join, zip(*(words[i:] for i in range(size)), strict=False)))


def _fmix32(np: Any, hv: Any) -> Any:
    """The MurmurHash3 32-bit finalizer, the pre-mix of datasketch's ``affine32`` scheme."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


class Permuter:
    """datasketch's MinHash permutations (``seed=1``), applied to many records at once."""

    def __init__(self, num_perm: int) -> None:
        datasketch = require("datasketch", extra="dedup", feature="the dedup-near data step")
        import numpy as np  # declared in the dedup extra beside datasketch

        self.np = np
        self.num_perm = num_perm
        template = datasketch.MinHash(num_perm=num_perm, seed=1)
        if getattr(template, "scheme", None) != "affine32":
            raise StageError(
                f"dedup-near: datasketch {datasketch.__version__} builds MinHash with scheme "
                f"{getattr(template, 'scheme', 'legacy')!r}; this step computes the 'affine32' "
                "scheme (datasketch >= 2.0)"
            )
        a, b = template.permutations
        self._a = np.asarray(a, dtype=np.uint32)[None, :]
        self._b = np.asarray(b, dtype=np.uint32)[None, :]
        self._check(datasketch, template)

    def _check(self, datasketch: Any, template: Any) -> None:
        """Fail closed unless this computes what datasketch's own MinHash does."""
        sample = ["alpha beta gamma", "beta gamma delta", "数据 去重", "x"]
        expected = template.copy()
        expected.update_batch([s.encode("utf-8") for s in sample])
        hashes = self.np.frombuffer(_digests(sample), dtype="<u8")
        got = self.minhashes(hashes, self.np.array([0, len(sample)], dtype=self.np.int64))
        if not self.np.array_equal(got[0], expected.hashvalues):
            raise StageError(
                f"dedup-near: MinHash values differ from datasketch "
                f"{datasketch.__version__}'s own for the same shingles; refusing to index them"
            )

    def minhashes(self, hashes: Any, bounds: Any) -> Any:
        """MinHash values (rows ``uint32``) of each record ``hashes[bounds[i]:bounds[i+1]]``.

        ``hashes`` holds each shingle's 64-bit hash; its low 32 bits are datasketch's
        ``sha1_hash32``. Every record has at least one shingle.
        """
        np = self.np
        records = len(bounds) - 1
        out = np.empty((records, self.num_perm), dtype=np.uint32)
        mixed = _fmix32(np, hashes.astype(np.uint32))
        first = 0
        while first < records:
            # As many whole records as fit in one block (always at least one).
            end = int(np.searchsorted(bounds, bounds[first] + BLOCK_SHINGLES, side="right")) - 1
            last = min(records, max(first + 1, end))
            lo = int(bounds[first])
            permuted = mixed[lo : int(bounds[last]), None] * self._a + self._b
            out[first:last] = np.minimum.reduceat(permuted, bounds[first:last] - lo, axis=0)
            first = last
        return out


def _digests(items: list[str]) -> bytes:
    """The first 8 bytes of each item's SHA-1 (its UTF-8 bytes), concatenated."""
    sha1 = hashlib.sha1
    return b"".join([sha1(s.encode("utf-8")).digest()[:8] for s in items])


@dataclass(frozen=True)
class NearChunk:
    """One chunk's signatures, packed into a few arrays (cheap to ship from a worker).

    ``rows[i]`` is the position among the signatures of record ``i`` of the chunk, or
    -1 when its compared fields hold no text. Signature ``j`` is the distinct shingle
    hashes ``hashes[bounds[j]:bounds[j+1]]`` and the MinHash values ``minhashes[j]``.
    """

    rows: Any
    bounds: Any
    hashes: Any
    minhashes: Any

    def __len__(self) -> int:
        return len(self.rows)

    def signatures(self) -> Iterator[tuple[Any, Any] | None]:
        """Each record's ``(shingle hashes, MinHash values)``, or ``None``, in chunk order."""
        bounds = self.bounds.tolist()
        for j in self.rows.tolist():
            if j < 0:
                yield None
            else:
                yield self.hashes[bounds[j] : bounds[j + 1]], self.minhashes[j]


@dataclass(frozen=True)
class NearSignatures:
    """``dedup-near``'s per-chunk work on an engine's workers: raw lines to a :class:`NearChunk`."""

    shape: str
    fields: tuple[str, ...]
    num_perm: int
    shingle: int

    def __call__(self) -> Any:
        return _Signer(self, Permuter(self.num_perm))


@dataclass(frozen=True)
class _Signer:
    spec: NearSignatures
    permuter: Permuter

    def __call__(self, lines: list[bytes]) -> NearChunk:
        np = self.permuter.np
        spec = self.spec
        rows: list[int] = []
        counts: list[int] = []
        flat: list[str] = []
        for raw in lines:
            text = compared_text(spec.shape, json.loads(raw), spec.fields)
            if not text.strip():
                rows.append(-1)
                continue
            found = shingles(text, spec.shingle)
            rows.append(len(counts))
            counts.append(len(found))
            flat.extend(found)
        bounds = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(np.array(counts, dtype=np.int64), out=bounds[1:])
        hashes = np.frombuffer(_digests(flat), dtype="<u8")
        return NearChunk(
            rows=np.array(rows, dtype=np.int32),
            bounds=bounds,
            hashes=hashes,
            minhashes=self.permuter.minhashes(hashes, bounds),
        )
