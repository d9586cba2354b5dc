"""One writer thread owning the workspace: group commit of the ingestion requests.

Each request validates its rows in the request (`mlmkit.services.ingest.prediction_batch`,
the validator of ``track_batch``) and queues the canonical `Batch`; small JSON requests queue
their rows, validated together by a validation thread (stage 1) while the writer thread
(stage 2) commits the previous group. The writer takes every batch waiting at that moment and
inserts them in ONE transaction (one commit, one WAL sync for the group); a request whose ids
are logged already is answered alone after it; if the transaction fails, each request gets its
own so that a bad request fails alone. A request's future resolves only after its commit: a
2xx answer means durable.

Idempotent retries: a request whose ``(model, version, prediction_id)`` rows all exist already
with the same values resolves to ``{"written": 0, "duplicates": n}`` (a client retrying after a
timeout); a partial overlap or different values raises the store's
[`DuplicateError`][mlmkit.exceptions.DuplicateError] naming the first clashing id.

Label and registry writes run on the same thread (`GroupCommitWriter.call`), between groups;
reads run in the caller's thread on a cursor of the writer's connection (`GroupCommitWriter.read`).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from mlmkit.exceptions import DuplicateError, MlmkitError, StateError
from mlmkit.server.batches import (
    Job,
    Prepared,
    Rows,
    combine_group,
    logged_alike,
    same_rows,
    validate_rows,
    without_logged,
)
from mlmkit.server.intake import Intake, drain
from mlmkit.server.labels import Labels, record_labels
from mlmkit.values import utcnow

if TYPE_CHECKING:
    from mlmkit.store.predictions.batch import Batch
    from mlmkit.workspace import Workspace

__all__ = ["GroupCommitWriter", "Prepared", "Rows"]

logger = logging.getLogger("mlmkit.server.writer")
T = TypeVar("T")


class GroupCommitWriter:
    """The one thread that writes to (and reads from) the workspace of a server process.

    Parameters
    ----------
    path
        Workspace file, opened (and migrated) by the writer thread; never created: a file
        deleted under a running server is an error, not a new empty workspace.
    lock_timeout
        Seconds to wait for another process holding the file (``LockedError`` beyond).
    max_group
        Most requests committed in one transaction.
    pipeline
        Validate small requests on a second thread while the writer commits (stage 1 /
        stage 2); ``False``: the writer thread validates each group before committing it.
    gather
        Most seconds to wait for the clients of the last group before taking the next one
        (`mlmkit.server.intake.Intake`; 0: take what is waiting).
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 30.0,
                 max_group: int = 256, pipeline: bool = False,
                 gather: float = 0.005) -> None:
        self.path = os.fspath(path)
        self.pipeline = pipeline
        self.lock_timeout = lock_timeout
        self.max_group = max_group
        self._queue: Intake[Job] = Intake(gather)
        self._ready: queue.SimpleQueue[list[Job] | None] = queue.SimpleQueue()
        self._accepting = False
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stage: threading.Thread | None = None
        self._ws: Workspace | None = None
        self.groups = 0
        """Transactions committed for groups of more than one request (for tests/benchmarks)."""
        self.stats = {"requests": 0, "rows": 0, "duplicates": 0, "failed": 0, "commits": 0}
        """Counters since start: answered requests, rows written, rows found already logged
        (retries), failed requests, transactions committed (``/metrics`` exports them)."""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> GroupCommitWriter:
        """Start the writer thread (idempotent)."""
        with self._guard:
            if self._thread is None:
                self._accepting = True
                if self.pipeline:
                    self._stage = threading.Thread(target=self._validating,
                                                   name="mlmkit-validate", daemon=True)
                    self._stage.start()
                self._thread = threading.Thread(target=self._run, name="mlmkit-writer",
                                                daemon=True)
                self._thread.start()
        return self

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting, commit everything queued, close the workspace."""
        with self._guard:
            if not self._accepting:
                return
            self._accepting = False
            self._queue.put(None)
        for thread in (self._stage, self._thread):
            if thread is not None:
                thread.join(timeout)

    @property
    def accepting(self) -> bool:
        """Whether requests are accepted (started and not closing)."""
        return self._accepting

    # ------------------------------------------------------------------ submitting
    @staticmethod
    def prepare(batch: Batch) -> Prepared:
        """Convert a validated batch for `submit` (in the caller's thread)."""
        return Prepared(batch, utcnow())

    def submit(self, batch: Batch | Prepared) -> Future[dict[str, int]]:
        """Queue a validated batch; the future gives ``{"written", "duplicates"}``.

        A `Batch` is prepared (converted) in the calling thread first.
        """
        return self._put(Job(batch if isinstance(batch, Prepared) else self.prepare(batch),
                              None))

    def submit_rows(self, rows: Rows) -> Future[dict[str, int]]:
        """Queue a small request's rows, validated on the writer thread with its group."""
        return self._put(Job(None, None, rows))

    def submit_labels(self, labels: Labels) -> Future[dict[str, int]]:
        """Queue a validated label request; committed in the transaction of its group."""
        return self._put(Job(None, None, labels=labels))

    def call(self, fn: Callable[[Workspace], T]) -> Future[T]:
        """Run ``fn(workspace)`` on the writer thread (reads, labels); its result in a future."""
        return self._put(Job(None, fn))

    def read(self, fn: Callable[[Workspace], T], timeout: float | None = None) -> T:
        """Run ``fn(workspace)`` in this thread on a read cursor of the writer's file.

        It reads the last committed state while the writer goes on committing (see
        `mlmkit.server.reads`); before the writer opened the file, on the writer thread.
        """
        from mlmkit.server.reads import CursorDatabase, read_workspace

        ws = self._ws
        if ws is None or ws.closed or not isinstance(ws.db, CursorDatabase):
            return self.call(fn).result(timeout)
        return read_workspace(ws.db, fn)

    def _put(self, job: Job) -> Future[Any]:
        with self._guard:
            if not self._accepting:
                raise StateError("the server is shutting down; the request was not accepted")
            self._queue.put(job)
        return job.future

    # ------------------------------------------------------------------ the threads
    def _validating(self) -> None:
        """Stage 1: validate the small requests waiting now, hand them to the committer.

        It runs while the committer commits the previous group, so a request waits for at
        most the commit running when it arrives, then its own.
        """
        stopping = False
        while not stopping:
            jobs, stopping = self._queue.take()
            jobs = self._validated(jobs)
            if jobs:
                self._ready.put(jobs)
        self._ready.put(None)

    def _run(self) -> None:
        """Stage 2: commit every validated group waiting (one transaction), run the calls."""
        from mlmkit.store.read_cursor import CursorDatabase
        from mlmkit.workspace import Workspace

        ws: Workspace | None = None
        stopping = False
        while not stopping:
            if self.pipeline:
                jobs, stopping = drain(self._ready)
            else:
                jobs, stopping = self._queue.take()
                jobs = self._validated(jobs)
            # a request cancelled meanwhile (its client gone, a shutdown timeout) is dropped
            # unwritten; the others can no longer be cancelled, so resolving them cannot fail
            jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            if not jobs:
                continue
            if ws is None:
                try:
                    ws = self._ws = Workspace(CursorDatabase(self.path,
                                                             lock_timeout=self.lock_timeout))
                except Exception as err:  # delivered to every waiting request (re-raised there)
                    for job in jobs:
                        job.future.set_exception(err)
                    continue
            began = time.monotonic()
            try:
                self._process(ws, jobs)
            except Exception as err:  # a bug must not leave requests waiting forever
                logger.exception("writer: a group failed unexpectedly")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err)
            self._queue.answered(sum(job.fn is None for job in jobs), time.monotonic() - began)
        if ws is not None:
            ws.close()

    def _process(self, ws: Workspace, jobs: list[Job]) -> None:
        run: list[Job] = []
        for job in jobs:
            if job.fn is None:
                run.append(job)
                if len(run) >= self.max_group:
                    self._commit(ws, run)
                    run = []
                continue
            if run:
                self._commit(ws, run)
                run = []
            assert job.fn is not None
            try:
                job.future.set_result(job.fn(ws))
            except Exception as err:  # the request re-raises it (mapped to an HTTP status)
                job.future.set_exception(err)
        if run:
            self._commit(ws, run)

    def _validated(self, jobs: list[Job]) -> list[Job]:
        """`_validate` the jobs; those still to run (not cancelled, not refused)."""
        try:
            self._validate(jobs)
        except Exception as err:  # a bug must not leave requests waiting forever
            logger.exception("writer: validating a group failed unexpectedly")
            for job in jobs:
                _fail(job, err)
        return [job for job in jobs if not job.future.done()]

    @staticmethod
    def _validate(jobs: list[Job]) -> None:
        """Validate the row jobs (by shape, together); a bad request's future gets its error."""
        rowed = [job for job in jobs if job.rows is not None]
        for job, outcome in zip(rowed, validate_rows([job.rows for job in rowed if job.rows]),
                                strict=True):
            if isinstance(outcome, MlmkitError):  # the request re-raises it (422)
                _fail(job, outcome)
            else:
                job.batch, job.group = outcome

    def _commit(self, ws: Workspace, jobs: list[Job]) -> None:
        """Commit the jobs in ONE transaction (one INSERT, one label UPDATE); else each alone."""
        jobs = [job for job in jobs if job.batch is not None or job.labels is not None]
        now = utcnow()  # (rows and labels logged with them are stamped already: Prepared)
        if len(jobs) > 1 and self._group(ws, jobs, now):
            return
        for job in jobs:
            self._alone(ws, job, now)

    def _group(self, ws: Workspace, jobs: list[Job], now: datetime) -> bool:
        """One transaction for the group; False (nothing written) if it failed.

        A request with ids logged already (ONE look-up of the group's keys) is held out: if
        all its rows are logged with the same values (a retry; ONE look-up for all of them) it
        is answered 200 with its duplicates after the commit, else alone (409, or written if
        the clash went away); a request repeating an earlier one of the group is answered alone
        after the commit. One conflict does not make the others commit one by one, nor a storm
        of retries cost a transaction each.
        """
        store = ws.log.store
        rowed = [job for job in jobs if job.batch is not None]
        labels = [job for job in jobs if job.labels is not None]
        combined, later, retried = None, list[Job](), list[Job]()
        if rowed:
            try:
                group = rowed[0].group
                combined, held = combine_group(
                    [job.batch for job in rowed if job.batch is not None],
                    group if all(job.group is group for job in rowed) else None)
            except Exception:  # (e.g. a column of two types across requests) each alone
                logger.debug("group of %d not combinable", len(jobs))
                return False
            rowed, later = _split(rowed, held)
        try:
            with store.db.transaction() as conn:
                if combined is not None and combined.has_ids and \
                        (clash := store.logged_keys(conn, combined.id_keys())):
                    combined, held = without_logged([job.batch for job in rowed], clash)
                    rowed, out = _split(rowed, held)
                    alike = logged_alike(store, [job.batch for job in out if job.batch])
                    retried = [job for job, same in zip(out, alike, strict=True) if same]
                    later += [job for job, same in zip(out, alike, strict=True) if not same]
                if combined is not None:
                    store.insert_batch(combined, now=now, check_ids=False)
                done = record_labels(store, [job.labels for job in labels if job.labels],
                                     now) if labels else []
        except Exception:  # retried by the caller: one transaction per request
            logger.debug("group of %d failed; committing each request alone", len(jobs))
            return False
        self.groups += 1
        failed = sum(isinstance(outcome, Exception) for outcome in done)
        self._count(commits=1, requests=len(rowed) + len(labels), failed=failed,
                    rows=0 if combined is None else combined.num_rows)
        for job in rowed:
            job.future.set_result({"written": job.batch.rows if job.batch else 0,
                                   "duplicates": 0})
        for job, outcome in zip(labels, done, strict=True):
            if isinstance(outcome, Exception):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)
        self._count(requests=len(retried),
                    duplicates=sum(job.batch.rows for job in retried if job.batch))
        for job in retried:
            job.future.set_result({"written": 0,
                                   "duplicates": job.batch.rows if job.batch else 0})
        for job in later:  # after the group's commit: a retry of it is recognised as one
            self._alone(ws, job, now)
        return True

    def _alone(self, ws: Workspace, job: Job, now: datetime) -> None:
        """Commit one request in its own transaction; its error goes to its future only."""
        store = ws.log.store
        try:
            if job.labels is not None:
                outcome = record_labels(store, [job.labels], now)[0]
                if isinstance(outcome, Exception):
                    raise outcome
                self._count(requests=1, commits=1)
                job.future.set_result(outcome)
                return
            assert job.batch is not None
            one = job.batch
            try:
                result = {"written": store.insert_batch(one.batch, now=now), "duplicates": 0}
            except DuplicateError as err:
                result = {"written": 0, "duplicates": same_rows(ws, one, err)}
        except Exception as err:  # the request re-raises it (mapped to an HTTP status)
            self._count(requests=1, failed=1)
            job.future.set_exception(err)
            return
        self._count(requests=1, rows=result["written"], duplicates=result["duplicates"],
                    commits=1 if result["written"] else 0)
        job.future.set_result(result)

    def _count(self, **increments: int) -> None:
        for key, value in increments.items():
            self.stats[key] += value

    def metrics_text(self) -> bytes:
        """The counters in the Prometheus text format (appended to ``/metrics``)."""
        from mlmkit.ops._exposition import CounterFamily, GaugeFamily, exposition

        families: list[GaugeFamily] = []
        for key, help_text in (("requests", "ingestion requests answered"),
                               ("rows", "prediction rows written"),
                               ("duplicates", "rows of retried requests found already logged"),
                               ("failed", "ingestion requests refused at commit"),
                               ("commits", "transactions committed (one per group)")):
            counter = CounterFamily(f"mlmkit_server_ingest_{key}_total", help_text)
            counter.add_metric([], self.stats[key])
            families.append(counter)
        groups = CounterFamily("mlmkit_server_ingest_groups_total",
                               "transactions committing more than one request")
        groups.add_metric([], self.groups)
        depth = GaugeFamily("mlmkit_server_ingest_queue_depth", "requests waiting for the writer")
        depth.add_metric([], self._queue.qsize() + self._ready.qsize())
        return exposition([*families, groups, depth])


def _split(jobs: list[Job], held: set[int]) -> tuple[list[Job], list[Job]]:
    """The jobs not in ``held`` (indexes), and those in it."""
    return ([job for k, job in enumerate(jobs) if k not in held],
            [job for k, job in enumerate(jobs) if k in held])


def _fail(job: Job, err: BaseException) -> None:
    """Refuse a job not yet running (stage 1), unless its request was cancelled meanwhile."""
    if not job.future.done() and job.future.set_running_or_notify_cancel():
        job.future.set_exception(err)
