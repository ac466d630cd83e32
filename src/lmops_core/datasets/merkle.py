"""The digest of a partitioned dataset: a Merkle root over its partitions' digests.

Construction (``lmops.merkle/1``), over the partitions in manifest order (sorted by name):

* a leaf is the SHA-256 of one partition's bytes (its artifact digest, 32 bytes);
* the leaf node is ``SHA-256(0x00 || leaf)``, an inner node ``SHA-256(0x01 || left || right)``:
  the prefix byte separates the two domains, so no leaf can pass for an inner node (nor a
  partition's bytes for a subtree);
* each level pairs its nodes from the left; an odd last node is carried up unchanged (never
  paired with a copy of itself, so ``[a, b, c]`` and ``[a, b, c, c]`` have different roots);
* the root, written ``sha256:<64 hex>``, is the dataset version's digest. There is no root of
  zero partitions.

Hashing partitions is independent work (a worker per partition); the root itself costs one
hash per partition. Two manifests are compared leaf by leaf to name the partitions that differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lmops_core.digests import hex_part
from lmops_core.errors import ValidationError

CONSTRUCTION = "lmops.merkle/1"
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_node(partition_digest: str) -> bytes:
    """The leaf node of one partition, from its ``sha256:`` digest."""
    return hashlib.sha256(_LEAF + bytes.fromhex(hex_part(partition_digest))).digest()


def merkle_root(partition_digests: Sequence[str]) -> str:
    """The root over ``partition_digests`` (in manifest order), as ``sha256:<hex>``."""
    if not partition_digests:
        raise ValidationError("a partitioned dataset needs at least one partition")
    level = [leaf_node(d) for d in partition_digests]
    while len(level) > 1:
        paired = [
            hashlib.sha256(_NODE + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return f"sha256:{level[0].hex()}"
