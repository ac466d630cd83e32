"""The SQLite writer queue: threads get the lock in the order they asked for it."""

from __future__ import annotations

import threading

import pytest

from lmops_core.registry.fifo_lock import FifoLock


def _queued(lock: FifoLock) -> int:
    with lock._mutex:
        return len(lock._waiters)


def test_waiters_get_the_lock_in_arrival_order() -> None:
    lock = FifoLock()
    order: list[int] = []
    lock.acquire()

    def waiter(number: int) -> None:
        with lock:
            order.append(number)

    threads = []
    for number in range(20):
        thread = threading.Thread(target=waiter, args=(number,))
        thread.start()
        threads.append(thread)
        while _queued(lock) < number + 1:  # wait until this one queues before starting the next
            thread.join(0.001)
            assert thread.is_alive(), "a waiter got the lock while it was held"
    lock.release()
    for thread in threads:
        thread.join()
    assert order == list(range(20))
    with lock:  # free again: taken at once
        assert _queued(lock) == 0


def test_releasing_a_lock_nobody_holds_is_an_error() -> None:
    lock = FifoLock()
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
    with lock:
        pass
    with pytest.raises(RuntimeError, match="not held"):
        lock.release()
