"""Background jobs with progress state: batch labelling and training run off the page's thread.

A Streamlit script is re-run on every click; work that takes minutes must not live in it. A
:class:`Job` runs a function in a daemon thread and keeps a snapshot-able state (counts, rows as
they come, logged metrics, result or error) that a page polls. One :class:`JobManager` per
server process (the app keeps it in ``st.cache_resource``) holds every job, so a job survives
reruns, page switches and closed tabs -- but not a server restart; work that must survive that
(batches) also writes each result to the database as it goes.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from longbert.errors import LongBertError

#: Job states. ``cancelled`` jobs stopped between two items at the user's request.
STATUSES = ("queued", "running", "done", "failed", "cancelled")


class JobCancelled(Exception):
    """Raised inside a job function (by :meth:`JobContext.check_stop`) to stop it cleanly."""


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state at one moment (safe to read without locks)."""

    id: str
    title: str
    kind: str
    status: str
    done: int
    total: int | None
    errors: int
    message: str
    rows: list[dict[str, Any]]
    events: list[dict[str, Any]]
    result: Any
    error: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.finished_at or time.time()) - self.started_at

    @property
    def fraction(self) -> float:
        if not self.total:
            return 1.0 if self.status == "done" else 0.0
        return max(0.0, min(1.0, self.done / self.total))

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the average pace so far; None before the first item is done."""
        if self.finished or not self.total or self.done <= 0:
            return None
        return self.elapsed / self.done * max(0, self.total - self.done)


@dataclass
class JobContext:
    """What a job function receives to report progress and to notice a cancel request."""

    _job: Job = field(repr=False)

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report ``done`` of ``total`` items (usable directly as a ``progress(done, total)``)."""
        self._job._update(done=done, total=total, message=message)

    def add_row(self, row: dict[str, Any], error: bool = False) -> None:
        """Append a result row (shown in the page's table as it comes)."""
        self._job._append("rows", dict(row), error=error)

    def log(self, **values: Any) -> None:
        """Append an event, e.g. ``log(step=10, loss=0.7)`` for a live training chart."""
        self._job._append("events", dict(values))

    def set_message(self, message: str) -> None:
        self._job._update(message=message)

    def set_meta(self, **values: Any) -> None:
        """Publish bookkeeping others look jobs up by (e.g. ``batch_id`` once it exists)."""
        with self._job._lock:
            self._job.meta.update(values)

    @property
    def stop_requested(self) -> bool:
        return self._job._cancel.is_set()

    def check_stop(self) -> None:
        """Raise :class:`JobCancelled` if the user asked to stop (call between items)."""
        if self._job._cancel.is_set():
            raise JobCancelled()


class Job:
    """A function running in a background thread with observable progress."""

    def __init__(
        self,
        job_id: str,
        fn: Callable[[JobContext], Any],
        title: str,
        kind: str,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.id = job_id
        self.title = title
        self.kind = kind
        #: Caller's bookkeeping (e.g. the batch id), set before the job starts and never changed
        #: by it except through :meth:`JobContext.set_meta`.
        self.meta: dict[str, Any] = dict(meta or {})
        self._fn = fn
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._state: dict[str, Any] = {
            "status": "queued", "done": 0, "total": None, "errors": 0, "message": "",
            "rows": [], "events": [], "result": None, "error": None,
            "created_at": time.time(), "started_at": None, "finished_at": None,
        }

    def start(self) -> Job:
        """Start the thread (once)."""
        with self._lock:
            if self._thread is not None:
                return self
            self._state["status"] = "running"
            self._state["started_at"] = time.time()
            self._thread = threading.Thread(target=self._run, name=f"longbert-{self.id}",
                                            daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next :meth:`JobContext.check_stop`."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the job ends (or ``timeout`` seconds pass) and return its state."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            state = dict(self._state)
            state["rows"] = list(state["rows"])
            state["events"] = list(state["events"])
        return JobSnapshot(id=self.id, title=self.title, kind=self.kind, **state)

    def _run(self) -> None:
        context = JobContext(self)
        try:
            result = self._fn(context)
        except JobCancelled:
            self._finish("cancelled", message="Stopped at your request.")
        except LongBertError as error:
            self._finish("failed", error=str(error))
        except Exception as error:  # a job must never die silently: show what happened
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self._finish("failed", error=f"Unexpected error: {detail}")
        else:
            status = "cancelled" if self._cancel.is_set() else "done"
            self._finish(status, result=result)

    def _finish(self, status: str, **values: Any) -> None:
        with self._lock:
            self._state.update(values)
            self._state["status"] = status
            self._state["finished_at"] = time.time()

    def _update(self, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                if value is not None:
                    self._state[key] = value

    def _append(self, key: str, value: dict[str, Any], error: bool = False) -> None:
        with self._lock:
            self._state[key].append(value)
            if error:
                self._state["errors"] += 1


class JobManager:
    """Every job of this server process, newest first."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def submit(
        self,
        fn: Callable[[JobContext], Any],
        *,
        title: str,
        kind: str,
        meta: dict[str, Any] | None = None,
    ) -> Job:
        """Create and start a job running ``fn(context)``."""
        with self._lock:
            job_id = f"{kind}-{next(self._counter)}"
            job = Job(job_id, fn, title, kind, meta)
            self._jobs[job_id] = job
        return job.start()

    def get(self, job_id: str | None) -> Job | None:
        if job_id is None:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            found = [j for j in self._jobs.values() if kind is None or j.kind == kind]
        return list(reversed(found))

    def running(self, kind: str | None = None) -> list[Job]:
        return [j for j in self.jobs(kind) if not j.snapshot().finished]

    def find(self, kind: str, **meta: Any) -> Job | None:
        """The newest job of ``kind`` whose meta has all the given values."""
        for job in self.jobs(kind):
            with job._lock:
                if all(job.meta.get(k) == v for k, v in meta.items()):
                    return job
        return None
