"""Worker leases: a batch whose worker died (kill -9) shows as interrupted, a live worker's batch
is never taken from it, and old databases gain the lease columns."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers.batch_workers import fake_classify, killed_worker_leaves_an_interrupted_batch, staged
from helpers.store_v1 import make_v3_database

import longbert.store.leases as leases
from longbert.store import SCHEMA_VERSION, BatchBusyError, BatchLease, Store, Worker
from longbert.store.leases import host_name
from longbert.ui.batch_jobs import resume_work
from longbert.ui.jobs import JobManager


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_SPOOL_DIR", str(tmp_path / "spool"))
    return Store(f"sqlite:///{tmp_path / 'lease.sqlite'}")


def test_a_batch_whose_worker_was_killed_shows_interrupted(store: Store, tmp_path: Path) -> None:
    killed_worker_leaves_an_interrupted_batch(store, tmp_path)


def test_a_worker_on_another_host_holds_the_batch_until_its_heartbeat_is_stale(store: Store) -> None:
    batch_id = staged(store)
    elsewhere = Worker("another-host", 1, "elsewhere")
    store.claim_batch(batch_id, elsewhere)
    batch = store.get_batch(batch_id)
    assert batch.status == "running" and batch.worker == "process 1 on another-host"
    with pytest.raises(BatchBusyError, match=r"another-host.*wait for it to finish"):
        store.claim_batch(batch_id)
    old = leases.utcnow().replace(year=2000)
    store._db.write(lambda s: s.execute(sa.text("UPDATE batches SET heartbeat_at = :t"),
                                        {"t": old.replace(tzinfo=None)}))
    assert store.get_batch(batch_id).status == "interrupted"
    mine = store.claim_batch(batch_id)
    assert store.get_batch(batch_id).worker_pid == mine.pid
    assert not store.heartbeat_batch(batch_id, elsewhere.id)  # the old worker lost it
    assert not store.release_batch(batch_id, elsewhere.id, status="interrupted")
    assert store.get_batch(batch_id).status == "running"


def test_a_dead_process_on_this_host_lets_go_at_once(store: Store) -> None:
    batch_id = staged(store)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.claim_batch(batch_id, Worker(host_name(), dead.pid, "gone"))  # heartbeat: now
    assert store.get_batch(batch_id).status == "interrupted"


def test_the_lease_beats_while_a_job_is_slow_and_lets_go_after(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leases, "LEASE_SECONDS", 0.6)
    batch_id = staged(store)
    with BatchLease(store, batch_id, interval=0.05) as lease:
        first = store._db.read(lambda s: s.execute(sa.text("SELECT heartbeat_at FROM batches")).scalar())
        time.sleep(1.0)  # longer than the lease: only the heartbeats keep it
        assert store.get_batch(batch_id).status == "running"
        later = store._db.read(lambda s: s.execute(sa.text("SELECT heartbeat_at FROM batches")).scalar())
        assert later > first and lease.worker is not None
    assert store.get_batch(batch_id).status == "interrupted"  # nobody works on it now
    with pytest.raises(RuntimeError), BatchLease(store, batch_id, interval=0.05):
        raise RuntimeError("the model failed")
    stored = store._db.read(lambda s: s.execute(sa.text("SELECT status, worker_id FROM batches")).one())
    assert tuple(stored) == ("interrupted", None)


def test_a_lease_taken_over_stops_its_job_and_leaves_the_new_one_alone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = staged(store)
    lease = BatchLease(store, batch_id, interval=0.05)
    with pytest.raises(BatchBusyError, match="taken over"), lease:
        monkeypatch.setattr(leases, "LEASE_SECONDS", 0.0)  # this worker went silent...
        other = store.claim_batch(batch_id, Worker("another-host", 7, "other"))
        monkeypatch.setattr(leases, "LEASE_SECONDS", 60.0)
        deadline = time.monotonic() + 10
        while not lease.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        lease.check()
    assert store.get_batch(batch_id).worker == f"process {other.pid} on another-host"


def test_two_jobs_never_label_one_batch(store: Store) -> None:
    batch_id = staged(store)
    with BatchLease(store, batch_id):
        snap = JobManager().submit(resume_work(store, batch_id, fake_classify), title="r",
                                   kind="batch").wait(60)
        assert snap.status == "failed" and "is being labelled by" in (snap.error or "")
        assert store.get_batch(batch_id).done == 0


def test_upgrade_from_version_3_shows_the_killed_batch_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    make_v3_database(path)
    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION >= 4
    batch = store.get_batch(2)
    assert (batch.name, batch.status, batch.done, batch.pending) == ("killed batch", "interrupted", 1, 1)
    assert [b.id for b in store.unfinished_batches()] == [2]
    assert store.get_batch(1).status == "done"
    store.claim_batch(2)
    assert store.get_batch(2).status == "running"
    store.close()
