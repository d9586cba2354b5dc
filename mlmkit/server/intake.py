"""The writer's intake: the queue of requests, taken a group at a time.

`Intake.take` returns every request waiting, and gathers: with fewer waiting than the last group
answered (its clients are sending their next requests now), it waits for them up to as long as
that group took (at most ``gather`` seconds). N clients in a loop then make one group of N, not
one of 1 and one of N - 1. Measured in process (16 threads, each sending one 1-row request
and waiting for its answer, 2,400 requests, loaded machine): 301 commits -> 153, p50
13.5-13.9 -> 5.9-6.0 ms, p99 60-63 -> 18-21 ms, 900 -> 2,200 requests/s.
"""

from __future__ import annotations

import queue
import time
from typing import Generic, TypeVar

__all__ = ["Intake", "drain"]

J = TypeVar("J")


class Intake(Generic[J]):
    """A queue of jobs (``None`` marks the shutdown) taken in groups.

    Parameters
    ----------
    gather
        Most seconds `take` waits for the clients of the last group (0: never waits).
    """

    def __init__(self, gather: float = 0.005) -> None:
        self.gather = gather
        self._queue: queue.SimpleQueue[J | None] = queue.SimpleQueue()
        self._expect, self._took = 1, 0.0

    def put(self, job: J | None) -> None:
        """Queue a job (``None``: stop after the jobs queued before)."""
        self._queue.put(job)

    def qsize(self) -> int:
        """Jobs waiting."""
        return self._queue.qsize()

    def answered(self, jobs: int, took: float) -> None:
        """The last group: how many requests it answered, and in how many seconds."""
        self._expect, self._took = jobs, took

    def take(self) -> tuple[list[J], bool]:
        """Every job waiting now (blocking for the first, gathering), and whether to stop."""
        jobs: list[J] = []
        stopping, deadline = False, 0.0
        item = self._queue.get()
        while True:  # (on shutdown: the rest of the queue too)
            if item is None:
                stopping = True
            else:
                jobs.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                if stopping or len(jobs) >= self._expect:
                    return jobs, stopping
                deadline = deadline or time.monotonic() + min(self._took, self.gather)
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    return jobs, stopping


def drain(ready: queue.SimpleQueue[list[J] | None]) -> tuple[list[J], bool]:
    """Every job list waiting now (blocking for the first), and whether to stop."""
    jobs: list[J] = []
    item = ready.get()
    while True:
        if item is None:
            return jobs, True
        jobs.extend(item)
        try:
            item = ready.get_nowait()
        except queue.Empty:
            return jobs, False
