"""Running a block with a given number of torch CPU threads, then restoring the old number."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Use ``count`` intra-op threads inside the block (``None``: leave torch's setting).

    Tiny and small models gain nothing from several threads, and on a busy
    machine the threads' spin-waiting makes each forward pass many times slower.
    """
    if count is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
