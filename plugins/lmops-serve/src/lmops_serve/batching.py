"""Texts that concurrent requests hand the guard at the same moment, redacted in one batch.

A guard's NER model costs about as much for one short text as for several
read together, and the service's request threads would otherwise each run it
alone, holding the interpreter lock in turn. :class:`RedactionBatcher` works
like a database's group commit: a caller that finds the guard idle redacts,
in one ``redact_batch`` call, its own text and every text queued until then;
callers arriving while that runs queue theirs and wait, and one of them leads
the next batch. No thread of its own and no timer: an idle service redacts a
text at once, a busy one in batches as large as the concurrency.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lmops_core.runtimes import TextGuard


@dataclass(eq=False)  # compared by identity: two requests may send the same text
class _Job:
    text: str
    result: Any = None
    error: BaseException | None = None
    finished: bool = False


class RedactionBatcher:
    """Redacts texts with ``guard.redact_batch``, batching those of concurrent callers.

    ``max_batch`` bounds one batch (the leader's text and those queued before it),
    so the caller that leads it waits for at most ``max_batch - 1`` texts besides its own.
    """

    def __init__(self, guard: TextGuard, *, max_batch: int = 32) -> None:
        if max_batch < 1:
            from lmops_core.errors import ValidationError

            raise ValidationError("max_batch must be at least 1", field="max_batch")
        self.guard = guard
        self.max_batch = max_batch
        self._pending: list[_Job] = []
        self._busy = False
        self._changed = threading.Condition()

    def redact(self, text: str) -> Any:
        """``guard.redact(text)``'s answer, computed in a batch with other waiting texts.

        An error of the guard reaches the caller whose text raised it (a batch
        that fails is retried text by text, so one text cannot fail another).
        """
        job = _Job(text)
        with self._changed:
            self._pending.append(job)
            while self._busy and not job.finished:
                self._changed.wait()
            if not job.finished:
                # The guard is idle and this text still waits: lead a batch holding it.
                mine = self._pending.index(job)
                start = max(0, mine + 1 - self.max_batch)
                batch = self._pending[start : start + self.max_batch]
                del self._pending[start : start + len(batch)]
                self._busy = True
        if not job.finished:
            try:
                _run(self.guard, batch)
            finally:
                with self._changed:
                    # Interrupted (KeyboardInterrupt...): the others' texts go back in the queue.
                    self._pending[:0] = [j for j in batch if not j.finished and j is not job]
                    self._busy = False
                    self._changed.notify_all()
        if job.error is not None:
            raise job.error
        return job.result


def _run(guard: TextGuard, jobs: Sequence[_Job]) -> None:
    """Redact every job's text and mark it finished, each with its own result or error."""
    try:
        results = guard.redact_batch([job.text for job in jobs])
    except Exception:  # noqa: BLE001 - whose text failed is found below, text by text
        results = None
    for position, job in enumerate(jobs):
        if results is not None:
            job.result = results[position]
        else:
            try:
                job.result = guard.redact(job.text)
            except Exception as exc:  # noqa: BLE001 - handed to the caller of that text
                job.error = exc
        job.finished = True
