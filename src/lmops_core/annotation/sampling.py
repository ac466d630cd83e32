"""Seeded samples of records, optionally stratified by a field."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from lmops_core.errors import ValidationError


def stratum_of(record: Mapping[str, Any], field: str, line: int) -> str:
    """The stratum of a record: its ``field`` as canonical JSON text (``"billing"``, ``4``)."""
    if field not in record:
        raise ValidationError(
            f"line {line}: {field}: missing (the field to stratify by)", field=field
        )
    return json.dumps(record[field], sort_keys=True, ensure_ascii=False)


def _allocate(sizes: Mapping[str, int], total: int, size: int) -> dict[str, int]:
    # Proportional allocation by largest remainder: the shares add up to `size` exactly,
    # and ties go to the stratum named first, so the sample depends on nothing but the seed.
    exact = {k: size * n / total for k, n in sizes.items()}
    shares = {k: min(int(v), sizes[k]) for k, v in exact.items()}
    order = sorted(sizes, key=lambda k: (-(exact[k] - int(exact[k])), k))
    left = size - sum(shares.values())
    while left > 0:
        for k in order:
            if left and shares[k] < sizes[k]:
                shares[k] += 1
                left -= 1
    return shares


def sample_indices(
    records: Sequence[Mapping[str, Any]], *, size: int, seed: int, stratify: str | None = None
) -> list[int]:
    """Indices of ``size`` records (all of them if fewer), drawn with ``seed``, in order.

    With ``stratify``, each value of that field gets a share proportional to how
    many records hold it (largest remainder); a record without the field is refused.
    """
    if size < 1:
        raise ValidationError("a sample needs at least one record", field="size")
    size = min(size, len(records))
    rng = random.Random(seed)
    if stratify is None:
        return sorted(rng.sample(range(len(records)), size))
    strata: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        strata.setdefault(stratum_of(record, stratify, i + 1), []).append(i)
    shares = _allocate({k: len(v) for k, v in strata.items()}, len(records), size)
    picked: list[int] = []
    for key in sorted(strata):
        picked.extend(rng.sample(strata[key], shares[key]))
    return sorted(picked)
