"""Background jobs: progress, rows, events, errors and cancellation, observed from outside."""

from __future__ import annotations

import threading

from longbert.errors import DatasetError
from longbert.ui.jobs import JobContext, JobManager


def test_job_reports_progress_rows_and_result() -> None:
    manager = JobManager()

    def work(ctx: JobContext) -> str:
        for i in range(3):
            ctx.add_row({"i": i}, error=i == 1)
            ctx.log(step=i, loss=1.0 / (i + 1))
            ctx.progress(i + 1, 3)
        return "finished"

    job = manager.submit(work, title="t", kind="batch")
    snap = job.wait(10)
    assert snap.status == "done" and snap.result == "finished"
    assert snap.done == 3 and snap.total == 3 and snap.errors == 1 and snap.fraction == 1.0
    assert [r["i"] for r in snap.rows] == [0, 1, 2] and len(snap.events) == 3
    assert snap.eta_seconds is None and manager.get(job.id) is job
    assert manager.jobs("batch") == [job] and manager.jobs("train") == []


def test_job_errors_are_captured_with_clear_messages() -> None:
    manager = JobManager()

    def bad(ctx: JobContext) -> None:
        raise DatasetError("Only one class in the data: add examples of another label.")

    def crash(ctx: JobContext) -> None:
        raise RuntimeError("boom")

    assert manager.submit(bad, title="b", kind="train").wait(10).error == (
        "Only one class in the data: add examples of another label."
    )
    snap = manager.submit(crash, title="c", kind="train").wait(10)
    assert snap.status == "failed" and "RuntimeError: boom" in (snap.error or "")


def test_job_can_be_cancelled_between_items_and_reports_eta() -> None:
    manager = JobManager()
    gate = threading.Event()
    seen = threading.Event()

    def slow(ctx: JobContext) -> None:
        ctx.progress(1, 4)
        seen.set()
        gate.wait(10)
        ctx.check_stop()
        ctx.progress(2, 4)

    job = manager.submit(slow, title="s", kind="batch")
    assert seen.wait(10)
    running = job.snapshot()
    assert not running.finished and running.eta_seconds is not None and manager.running() == [job]
    job.cancel()
    gate.set()
    snap = job.wait(10)
    assert snap.status == "cancelled" and snap.done == 1
