"""``dedup-near``'s chunk signatures are datasketch's MinHash values, record for record."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from datasketch import MinHash

from lmops_core.builtins.near_signatures import (
    BLOCK_SHINGLES,
    NearSignatures,
    compared_text,
    shingles,
)


def _records(rng: random.Random) -> list[dict[str, str]]:
    vocab = [f"w{i}" for i in range(300)] + ["账户", "转账", "Zürich", "naïve"]
    out = [
        {"prompt": "王芳明天去上海办理转账", "response": "好的"},  # CJK: character shingles
        {"prompt": "hi", "response": ""},  # fewer words than a shingle
        {"prompt": "", "response": "   "},  # nothing to compare
        {"prompt": "Close  ACCOUNT 1111\ttoday", "response": "close account 1111 today"},
    ]
    for _ in range(400):
        words = rng.randint(1, 120)
        out.append(
            {
                "prompt": " ".join(rng.choice(vocab) for _ in range(words)),
                "response": " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 60))),
            }
        )
    # One record longer than a numpy pass, so a block holds a single record.
    out.append({"prompt": " ".join(f"t{i}" for i in range(BLOCK_SHINGLES + 50)), "response": "x"})
    return out


@pytest.mark.parametrize("num_perm,size", [(128, 3), (64, 1), (200, 5)])
def test_signatures_equal_datasketch_minhash_per_record(num_perm: int, size: int) -> None:
    records = _records(random.Random(num_perm))
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    fields = ("prompt", "response")
    chunk = NearSignatures("instruction", fields, num_perm, size)()(lines)
    assert len(chunk) == len(records)
    empty = 0
    for record, signature in zip(records, chunk.signatures(), strict=True):
        text = compared_text("instruction", record, fields)
        if not text.strip():
            assert signature is None
            empty += 1
            continue
        assert signature is not None
        hashes, values = signature
        found = shingles(text, size)
        want = MinHash(num_perm=num_perm, seed=1)
        want.update_batch([s.encode("utf-8") for s in found])
        assert values.dtype == want.hashvalues.dtype
        assert np.array_equal(values, want.hashvalues), text[:60]
        # One distinct 64-bit hash per distinct shingle, for the exact Jaccard check.
        assert len(hashes) == len(found) == len(np.unique(hashes))
    assert empty == 1


def test_signatures_survive_pickling_and_empty_chunks() -> None:
    import pickle

    signer = NearSignatures("text", ("text",), 128, 3)()
    assert list(signer([]).signatures()) == []
    chunk = signer([b'{"text":"one two three four"}', b'{"text":""}'])
    back = pickle.loads(pickle.dumps(chunk))
    got = list(back.signatures())
    assert got[1] is None
    assert got[0] is not None and len(got[0][0]) == 2
    assert np.array_equal(got[0][1], next(chunk.signatures())[1])  # type: ignore[index]
