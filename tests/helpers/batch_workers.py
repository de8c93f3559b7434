"""A batch worker in a process of its own, killed with ``kill -9`` mid-batch (lease tests on
SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from longbert.document import Document
from longbert.results import Prediction, PredictionError
from longbert.store import BatchBusyError, Store
from longbert.store.leases import host_name
from longbert.ui.batch_jobs import BatchSettings, resume_work, stage_batch
from longbert.ui.jobs import JobManager

ROOT = Path(__file__).resolve().parents[2]

SETTINGS = BatchSettings(model="zero-shot", model_name="fake", labels={"a": "a", "b": "b"})
FILES = [("one.txt", b"alpha one"), ("two.txt", b"bravo two"), ("three.txt", b"alpha three")]

#: Claims the batch (through classify_batch), then hangs in its first classify call.
WORKER = """
import sys, time
from pathlib import Path
from longbert.store import Store
from longbert.ui.batch_jobs import classify_batch
from longbert.ui.jobs import JobManager

url, batch_id, marker = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
store = Store(url)

def stuck(documents):
    marker.touch()  # the batch is claimed and its first documents are being classified
    time.sleep(600)

JobManager().submit(lambda ctx: classify_batch(ctx, store, batch_id, stuck),
                    title="worker", kind="batch").wait()
"""


def start_worker(url: str, batch_id: int, folder: Path, timeout: float = 120) -> subprocess.Popen[bytes]:
    """Start a worker on ``batch_id`` and return once it is classifying (lease held)."""
    marker = folder / f"worker-{batch_id}-busy"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", WORKER, url, str(batch_id), str(marker)],
                             env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(f"the worker exited: {child.stderr.read().decode() if child.stderr else ''}")
        if time.monotonic() > deadline:
            kill_9(child)
            raise AssertionError("the worker never started classifying")
        time.sleep(0.05)
    return child


def kill_9(child: subprocess.Popen[bytes]) -> None:
    """``kill -9`` the worker and reap it (a zombie still answers signals)."""
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    if child.stderr is not None:
        child.stderr.close()


def fake_classify(documents: Sequence[Document]) -> list[Prediction | PredictionError]:
    """Label "a" for every document (no model)."""
    return [Prediction(
        document_name=d.name, document_sha256=d.sha256, label="a", probabilities={"a": 0.8, "b": 0.2},
        labels=["a"], model_name="fake", strategy="truncate", strategy_params={}, total_tokens=3,
        used_tokens=3, spans=[(0, len(d.text))], segment_scores=[], attention=None, latency_ms=1.0,
    ) for d in documents]


def staged(store: Store) -> int:
    """A staged batch of three documents (texts in the spool, nothing classified)."""
    snap = JobManager().submit(lambda ctx: stage_batch(ctx, store, "b", iter(FILES), SETTINGS),
                               title="s", kind="batch").wait(60)
    assert snap.status == "done", snap.error
    return int(snap.result)


def killed_worker_leaves_an_interrupted_batch(store: Store, folder: Path) -> int:
    """A worker process claims a staged batch and is killed with ``kill -9`` mid-chunk: the
    batch shows as interrupted at once, and resuming finishes it. Returns the batch id."""
    batch_id = staged(store)
    worker = start_worker(store.url, batch_id, folder)
    try:
        running = store.get_batch(batch_id)
        assert (running.status, running.worker_pid) == ("running", worker.pid)
        assert running.worker == f"process {worker.pid} on {host_name()}"
        with pytest.raises(BatchBusyError, match=f"process {worker.pid}"):
            store.claim_batch(batch_id)  # a second worker is refused while the first lives
    finally:
        kill_9(worker)
    interrupted = store.get_batch(batch_id)
    assert (interrupted.status, interrupted.worker, interrupted.heartbeat_at) == ("interrupted", None, None)
    assert [b.id for b in store.unfinished_batches()] == [batch_id]
    assert [b.id for b in store.list_batches(status="interrupted")] == [batch_id]
    assert store.list_batches(status="running") == []
    # Resuming takes the dead worker's lease and finishes the batch.
    snap = JobManager().submit(resume_work(store, batch_id, fake_classify), title="r",
                               kind="batch").wait(60)
    assert snap.status == "done", snap.error
    done = store.get_batch(batch_id)
    assert (done.status, done.done, done.worker) == ("done", 3, None)
    return batch_id
