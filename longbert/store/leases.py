"""Worker leases on batches: which process labels a batch, and whether it is still alive.

A batch's row names its worker (host, process id, a random id per claim) and when that worker
last showed it is alive (``heartbeat_at``). A worker *holds* the batch while

* its heartbeat is younger than :data:`LEASE_SECONDS`, and
* on this host, its process still exists (so a worker killed with ``kill -9`` lets go at once;
  a worker on another host lets go when its heartbeat goes stale).

A batch stored as ``running`` that no worker holds is reported as ``interrupted``: History then
offers to resume it. :class:`BatchLease` claims a batch for a job and beats in a thread (every
:data:`HEARTBEAT_SECONDS`) while the job runs; saving a batch item also counts as a sign of life
of the process that saves it. A claim of a batch another live worker holds is refused
(:class:`BatchBusyError`), so two jobs never label one batch at once.

Times are the workers' clocks (UTC); the lease is long enough for ordinary clock skew.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import update
from sqlalchemy.orm import Session

from longbert.errors import StoreError
from longbert.store.engine import Database, get_row
from longbert.store.schema import BatchRow, utcnow

#: How often a job's lease thread says it is alive.
HEARTBEAT_SECONDS = 10.0
#: A heartbeat older than this no longer holds the batch.
LEASE_SECONDS = 60.0
#: Statuses after which nothing more is expected (``finished_at`` is set).
FINAL_STATUSES = ("done", "failed", "cancelled")


class BatchBusyError(StoreError):
    """Another live worker is labelling the batch."""


@functools.cache
def host_name() -> str:
    """This machine's name, as leases record it."""
    return socket.gethostname()[:255]


@functools.cache
def _process_worker_id(pid: int) -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Worker:
    """Who holds a lease: a process on a host, and a random id per claim."""

    host: str
    pid: int
    id: str

    @classmethod
    def this_process(cls, claim: bool = False) -> Worker:
        """This process; ``claim``: with an id of its own (else the process's one id)."""
        pid = os.getpid()
        return cls(host_name(), pid, uuid.uuid4().hex if claim else _process_worker_id(pid))

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists here (a zombie, killed but not reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): it answered the signal
    return state not in ("Z", "X")


def lease_holder(row: BatchRow, now: datetime | None = None) -> Worker | None:
    """The worker holding the batch, or None when none does (see the module doc)."""
    if row.worker_id is None or row.heartbeat_at is None or row.worker_pid is None:
        return None
    if (now or utcnow()) - row.heartbeat_at > timedelta(seconds=LEASE_SECONDS):
        return None
    if row.worker_host == host_name() and not pid_alive(row.worker_pid):
        return None
    return Worker(str(row.worker_host), int(row.worker_pid), row.worker_id)


def shown_status(row: BatchRow, holder: Worker | None) -> str:
    """The status to report: a ``running`` batch that no worker holds is ``interrupted``."""
    return "interrupted" if row.status == "running" and holder is None else row.status


def _set_worker(row: BatchRow, worker: Worker | None, now: datetime | None) -> None:
    row.worker_host = worker.host if worker else None
    row.worker_pid = worker.pid if worker else None
    row.worker_id = worker.id if worker else None
    row.heartbeat_at = now if worker else None


def touch_lease(row: BatchRow, now: datetime) -> None:
    """A batch item was just saved by this process: a sign of life. Refresh this process's
    lease, take a lease nobody holds, and leave another live worker's alone."""
    me = Worker.this_process()
    if row.worker_host == me.host and row.worker_pid == me.pid:
        row.heartbeat_at = now
    elif lease_holder(row, now) is None:
        _set_worker(row, me, now)


def drop_lease(row: BatchRow) -> None:
    """Clear the batch's worker (it is finished, stopped or failed)."""
    _set_worker(row, None, None)


def lock_batch(session: Session, batch_id: int) -> BatchRow:
    """The batch row, locked for this transaction.

    Raises:
        RecordNotFoundError: no such batch.
    """
    return get_row(session, BatchRow, batch_id, f"There is no batch {batch_id}; nothing was saved.",
                   lock=True)


class LeasesMixin:
    """Lease methods of :class:`~longbert.store.Store`."""

    _db: Database

    def claim_batch(self, batch_id: int, worker: Worker | None = None) -> Worker:
        """Make ``worker`` (default: this process, with a new id) the batch's worker and mark
        the batch running; returns the worker.

        Raises:
            BatchBusyError: another live worker holds the batch.
            RecordNotFoundError: no such batch.
        """
        me = worker or Worker.this_process(claim=True)

        def work(session: Session) -> Worker:
            row = lock_batch(session, batch_id)
            now = utcnow()
            holder = lease_holder(row, now)
            if holder is not None and holder.id != me.id:
                seconds = (now - row.heartbeat_at).total_seconds() if row.heartbeat_at else 0.0
                raise BatchBusyError(
                    f"Batch #{batch_id} is being labelled by {holder.describe()} (last sign of "
                    f"life {seconds:.0f} s ago); wait for it to finish, or stop it there."
                )
            _set_worker(row, me, now)
            if row.status in ("pending", "interrupted", "running"):
                row.status = "running"
                row.finished_at = None
            row.updated_at = now
            return me

        return self._db.write(work)

    def heartbeat_batch(self, batch_id: int, worker_id: str) -> bool:
        """Say the worker ``worker_id`` is alive; False when it no longer holds the batch."""
        statement = (
            update(BatchRow)
            .where(BatchRow.id == batch_id, BatchRow.worker_id == worker_id)
            .values(heartbeat_at=utcnow())
        )
        return bool(self._db.write(lambda session: session.execute(statement).rowcount))

    def release_batch(self, batch_id: int, worker_id: str, status: str | None = None) -> bool:
        """Let go of the batch (and set ``status``, e.g. ``interrupted``, or ``done`` for a batch
        only its worker knows the end of) if ``worker_id`` still holds it; False when another
        worker has taken it meanwhile (nothing is changed then)."""

        def work(session: Session) -> bool:
            row = lock_batch(session, batch_id)
            if row.worker_id != worker_id:
                return False
            drop_lease(row)
            if status is not None and row.status != "done":
                now = utcnow()
                row.status = status
                row.updated_at = now
                row.finished_at = now if status in FINAL_STATUSES else None
            return True

        return self._db.write(work)


class BatchLease:
    """A job's hold on a batch: claimed on entry, kept alive by a heartbeat thread, released on
    exit (an exception leaves the batch ``interrupted``). :meth:`check` between work items
    raises when the lease was lost (another worker took over after this one went silent)."""

    # Typed by the mixin, not Store: the lease needs only these three methods, and naming Store
    # here would make store.store -> batches -> leases -> store.store a cycle.
    def __init__(self, store: LeasesMixin, batch_id: int, interval: float = HEARTBEAT_SECONDS) -> None:
        self.store = store
        self.batch_id = batch_id
        self.interval = interval
        self.worker: Worker | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> BatchLease:
        return self.start()

    def start(self) -> BatchLease:
        """Claim the batch and start beating (what ``with`` does; :meth:`end` undoes it)."""
        self.worker = self.store.claim_batch(self.batch_id)
        self._thread = threading.Thread(target=self._beat, name=f"lease-batch-{self.batch_id}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop_beating(self) -> None:
        """Stop the heartbeat thread (the lease is kept until it goes stale, or :meth:`end`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def end(self, status: str | None = None) -> bool:
        """Stop beating and let go of the batch, setting ``status`` if given; False when the
        lease was lost (the batch is then another worker's and is left alone)."""
        self.stop_beating()
        if self.worker is None or self.lost:
            return False
        return self.store.release_batch(self.batch_id, self.worker.id, status=status)

    def _beat(self) -> None:
        assert self.worker is not None
        while not self._stop.wait(self.interval):
            try:
                if not self.store.heartbeat_batch(self.batch_id, self.worker.id):
                    self.lost = True
                    return
            except StoreError:
                continue  # a busy database: the next beat tries again

    def check(self) -> None:
        """Raise :class:`BatchBusyError` when another worker has taken the batch over."""
        if self.lost:
            raise BatchBusyError(f"Batch #{self.batch_id} was taken over by another worker; "
                                 "this one stopped.")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.end("interrupted" if kind is not None else None)
