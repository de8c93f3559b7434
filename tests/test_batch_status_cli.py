"""The store batch of a command-line run (``python -m longbert.predict --store``, through
:class:`~longbert.bulk.store_sink.StoreSink`): running while the command lives, however long a
chunk takes; interrupted once it stops beating; done only when the command finishes; never
resumed from the app (re-running the command resumes it from its output)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.batch_workers import kill_9
from helpers.store_factories import make_document, make_prediction

import longbert.store.leases as leases
from longbert.bulk.store_sink import StoreSink
from longbert.errors import LongBertError
from longbert.store import BatchBusyError, Store
from longbert.store.leases import host_name
from longbert.ui.batch_jobs import classify_batch, resume_work
from longbert.ui.jobs import JobManager

ROOT = Path(__file__).resolve().parents[1]
#: What the runner records (longbert.bulk.runner), plus the command the sink adds.
CONFIG = {
    "model": "m",
    "model_name": "hyperpartisan-v1",
    "strategy": None,
    "labels": None,
    "cli": {"output": "/data/out.csv", "engine": "local"},
}


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LONGBERT_SPOOL_DIR", str(tmp_path / "spool"))
    return f"sqlite:///{tmp_path / 'cli.sqlite'}"


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> float:
    """A lease of 0.5 s instead of a minute, so "a gap longer than the lease" is short."""
    monkeypatch.setattr(leases, "LEASE_SECONDS", 0.5)
    return 0.5


def _chunk(sink: StoreSink, start: int, size: int = 3) -> None:
    """One chunk of the command's rows reaches the store, as the runner writes it."""
    documents = [make_document(start + i) for i in range(size)]
    sink.write([(make_prediction(d, seed=start + i), d) for i, d in enumerate(documents)])
    sink.mark("running")


def _fake_classify(documents: object) -> list[object]:
    raise AssertionError("a command-line batch must not be classified by the app")


def test_a_live_run_stays_running_across_a_gap_longer_than_the_lease(url: str, short_lease: float) -> None:
    sink = StoreSink(url, heartbeat_seconds=0.05)
    batch_id = sink.open_batch("predict → out.csv", CONFIG, None)
    store = sink.store
    try:
        opened = store.get_batch(batch_id)
        assert (opened.status, opened.worker_pid, opened.worker_host) == ("running", os.getpid(), host_name())
        documents = [make_document(i) for i in range(3)]
        sink.write([(make_prediction(d, seed=i), d) for i, d in enumerate(documents)])
        # A save counts the rows; it does not finish a batch whose total grows as the run goes.
        saved = store.get_batch(batch_id)
        assert (saved.status, saved.finished_at, saved.total, saved.done) == ("running", None, 3, 3)
        sink.mark("running")
        time.sleep(3 * short_lease)  # the model is busy with the next chunk: only heartbeats
        live = store.get_batch(batch_id)
        assert (live.status, live.worker_pid) == ("running", os.getpid())
        assert [b.id for b in store.list_batches(status="running")] == [batch_id]
        _chunk(sink, 3)
        assert store.get_batch(batch_id).status == "running"
    finally:
        sink.mark("done")
    done = store.get_batch(batch_id)
    assert (done.status, done.total, done.done, done.worker) == ("done", 6, 6, None)
    assert done.finished_at is not None and store.unfinished_batches() == []


def test_a_run_whose_heartbeat_stopped_becomes_interrupted(url: str, short_lease: float) -> None:
    sink = StoreSink(url, heartbeat_seconds=0.05)
    batch_id = sink.open_batch("predict → out.csv", CONFIG, None)
    _chunk(sink, 0)
    assert sink._lease is not None
    sink._lease.stop_beating()  # as if its host lost the database, or froze
    time.sleep(3 * short_lease)
    stale = sink.store.get_batch(batch_id)
    assert (stale.status, stale.worker) == ("interrupted", None)
    assert [b.id for b in sink.store.unfinished_batches()] == [batch_id]


#: A command-line run in a process of its own, hanging in its second chunk.
RUN = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from helpers.store_factories import make_document, make_prediction
from longbert.bulk.store_sink import StoreSink

sink = StoreSink(sys.argv[1])
sink.open_batch("predict → out.csv", {"cli": {"output": "out.csv"}}, None)
document = make_document(0)
sink.write([(make_prediction(document), document)])
sink.mark("running")
Path(sys.argv[2]).touch()
time.sleep(600)
"""


def test_a_killed_run_is_interrupted_at_once_and_ctrl_c_leaves_it_interrupted(
    url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "busy"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", RUN, url, str(marker), str(ROOT / "tests")], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the run never wrote its first chunk"
            time.sleep(0.05)
        store = Store(url)
        (batch,) = store.list_batches()
        assert (batch.status, batch.worker) == ("running", f"process {child.pid} on {host_name()}")
    finally:
        kill_9(child)
    assert store.get_batch(batch.id).status == "interrupted"  # its process is gone
    # The command run again resumes the batch and holds it; Ctrl-C then lets go of it.
    sink = StoreSink(url, heartbeat_seconds=0.05)
    assert sink.open_batch("predict → out.csv", {}, batch.id) == batch.id
    assert sink.stored_rows() == 1
    assert store.get_batch(batch.id).worker_pid == os.getpid()
    sink.mark("interrupted")
    stopped = store.get_batch(batch.id)
    assert (stopped.status, stopped.worker, stopped.finished_at) == ("interrupted", None, None)


def test_a_batch_recorded_by_an_older_version_is_not_finished_by_a_save(url: str) -> None:
    store = Store(url)
    batch_id = store.create_batch("predict → old.csv", total=0, config={"cli": {"output": "old.csv"}})
    store.mark_batch_status(batch_id, "running")
    document = make_document(0)
    store.save_prediction(make_prediction(document), document, batch_id=batch_id)
    assert store.get_batch(batch_id).status != "done"


@pytest.mark.parametrize("overwrite", ["--overwrite", "--overw", "--ov"])
def test_the_command_is_recorded_without_overwrite(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, overwrite: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            str(ROOT / "longbert" / "predict.py"),
            "--model",
            "models/m",
            "--input",
            "my docs",
            "--output",
            "out.csv",
            overwrite,  # argparse takes any unambiguous start of an option
        ],
    )
    sink = StoreSink(url, heartbeat_seconds=0.05)
    batch_id = sink.open_batch("predict → out.csv", CONFIG, None)
    sink.mark("done")
    cli = sink.store.get_batch(batch_id).config["cli"]
    assert cli["command"] == "python -m longbert.predict --model models/m --input 'my docs' --output out.csv"
    assert cli["workdir"] == str(tmp_path) and cli["output"] == "/data/out.csv"
    # Any other program (a notebook, a test) records no command it cannot stand for.
    monkeypatch.setattr(sys, "argv", ["pytest", "-q"])
    other = StoreSink(url, heartbeat_seconds=0.05)
    other_id = other.open_batch("predict → out.csv", CONFIG, None)
    other.mark("done")
    assert "command" not in other.store.get_batch(other_id).config["cli"]


def test_the_app_refuses_to_resume_a_command_line_batch(url: str) -> None:
    sink = StoreSink(url, heartbeat_seconds=0.05)
    config = {**CONFIG, "cli": {**CONFIG["cli"], "command": "python -m longbert.predict --output out.csv"}}
    batch_id = sink.open_batch("predict → out.csv", config, None)
    _chunk(sink, 0)
    sink.mark("interrupted")  # Ctrl-C at 3 of 10,000 inputs
    store = sink.store

    class Context:
        def progress(self, *args: object, **kwargs: object) -> None: ...
        def add_row(self, *args: object, **kwargs: object) -> None: ...
        def check_stop(self) -> None: ...
        def set_meta(self, **kwargs: object) -> None: ...

    refused = r"command-line run.*python -m longbert\.predict --output out\.csv"
    with pytest.raises(LongBertError, match=refused):
        classify_batch(Context(), store, batch_id, _fake_classify)  # type: ignore[arg-type]
    snap = JobManager().submit(resume_work(store, batch_id, _fake_classify), title="r", kind="batch").wait(60)
    assert snap.status == "failed" and "re-run" in (snap.error or "")
    after = store.get_batch(batch_id)
    assert (after.status, after.done, after.finished_at) == ("interrupted", 3, None)


def test_a_run_whose_batch_was_taken_over_stops_and_leaves_it_alone(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = StoreSink(url, heartbeat_seconds=0.05)
    batch_id = sink.open_batch("predict → out.csv", CONFIG, None)
    _chunk(sink, 0)
    monkeypatch.setattr(leases, "LEASE_SECONDS", 0.0)  # this run went silent...
    other = sink.store.claim_batch(batch_id, leases.Worker("another-host", 7, "other"))
    monkeypatch.setattr(leases, "LEASE_SECONDS", 60.0)
    assert sink._lease is not None
    deadline = time.monotonic() + 10
    while not sink._lease.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(BatchBusyError, match="taken over"):
        _chunk(sink, 3)  # the runner then marks it interrupted on its way out
    sink.mark("interrupted")
    held = sink.store.get_batch(batch_id)
    assert (held.status, held.worker) == ("running", f"process {other.pid} on another-host")
    assert held.total == 3  # nothing more was written to it
