"""A lock that threads are granted in the order they asked for it."""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FifoLock:
    """A mutual-exclusion lock granted first come, first served.

    A plain lock (or a file lock) lets every waiter race for it when it is
    released, so under load one waiter can lose many races in a row while
    others pass it: the slowest calls wait several times as long as the
    typical one. Here each waiter sleeps on a lock of its own, and the holder
    hands the lock directly to the oldest waiter on release: one wake-up per
    hand-over, and a waiter waits only for those that came before it.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        """Wait for the lock behind everyone who asked before."""
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by the holder handing the lock over: it is ours now

    def release(self) -> None:
        """Hand the lock to the oldest waiter, or free it when nobody waits."""
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of a FifoLock that is not held")
            if self._waiters:
                self._waiters.popleft().release()  # still held: by the waiter now
            else:
                self._held = False

    def __enter__(self) -> FifoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


__all__ = ["FifoLock"]
