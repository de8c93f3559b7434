"""Parallel writers -- threads (browser sessions) and processes (batch jobs) -- lose nothing and
never fail with "database is locked"."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers.store_factories import make_document, make_prediction
from helpers.store_v1 import make_v1_database
from sqlalchemy.engine import make_url

from longbert.store import SCHEMA_VERSION, HistoryFilter, Store
from longbert.store.engine import Database, enable_wal
from longbert.store.migrations import backup_path

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(sql).fetchone()[0])


def test_threads_write_in_parallel(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(f"sqlite:///{path}")  # one Store shared by every thread, as in the app
    threads, per_thread = 8, 50
    batch_id = store.create_batch(
        "shared", items=[f"t{t}-{i}" for t in range(threads) for i in range(per_thread)]
    )
    shared = make_document(999, name="shared.txt")  # every thread also saves this text: dedup race
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()

    def writer(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                document = shared if i % 10 == 0 else make_document(t * 1000 + i, name=f"t{t}-{i}")
                prediction = make_prediction(document, seed=i, full=(i == 1))
                prediction.document_name = f"t{t}-{i}"
                pid = store.save_prediction(
                    prediction, document, batch_id=batch_id, item_index=t * per_thread + i
                )
                if i % 7 == 0:
                    store.add_correction(pid, "false")
                with lock:
                    ids.append(pid)
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    def reader() -> None:
        try:
            start.wait()
            for _ in range(30):
                store.history(HistoryFilter(label="true"), limit=20)
                store.get_batch(batch_id)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    workers.append(threading.Thread(target=reader))
    start_reader = workers[-1]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert not start_reader.is_alive()
    assert errors == []
    total = threads * per_thread
    assert len(ids) == len(set(ids)) == total
    assert count(path, "SELECT count(*) FROM predictions") == total
    assert count(path, "SELECT count(*) FROM attention_maps WHERE kind = 'summary'") == total
    assert count(path, "SELECT count(*) FROM attention_maps WHERE kind = 'full'") == threads
    assert count(path, "SELECT count(*) FROM documents") == threads * (per_thread - per_thread // 10) + 1
    assert count(path, "SELECT count(*) FROM corrections") == threads * len(range(0, per_thread, 7))
    batch = store.get_batch(batch_id)
    assert (batch.status, batch.done, batch.errors, batch.total) == ("done", total, 0, total)
    assert store._db.lock_retries == 0  # no "database is locked" even before retrying
    store.close()


def test_writer_waits_for_a_lock_held_by_another_program(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(f"sqlite:///{path}")
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock
    release = threading.Timer(1.0, lambda: blocker.execute("COMMIT"))
    release.start()
    document = make_document(1)
    started = time.monotonic()
    store.save_prediction(make_prediction(document), document)  # waits, does not fail
    assert time.monotonic() - started >= 0.9
    release.join()
    blocker.close()
    assert store.count_predictions() == 1
    store.close()


CHILD = """
import json, sys, time
from pathlib import Path
from helpers.store_factories import make_document, make_prediction
from longbert.store import Store

url, folder, k, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
(folder / f"ready-{k}").touch()
deadline = time.monotonic() + 120
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.005)
store = Store(url)  # every process opens the old database at once: one upgrades it
batch = store.create_batch(f"process {k}", items=[f"p{k}-{i}" for i in range(n)])
ids = []
for i in range(n):
    document = make_document(7, name="shared.txt") if i % 5 == 0 else make_document(10_000 * (k + 1) + i)
    prediction = make_prediction(document, seed=i)
    ids.append(store.save_prediction(prediction, document, batch_id=batch, item_index=i))
result = {"batch": batch, "ids": ids, "version": store.schema_version, "retries": store._db.lock_retries}
print(json.dumps(result))
"""


def test_processes_and_threads_write_at_once_after_upgrading(tmp_path: Path) -> None:
    """Three processes and two threads of this one open a version-1 database at the same moment
    (one of them upgrades it), then write 50 predictions each with attention maps."""
    path = tmp_path / "longbert.sqlite"
    make_v1_database(path)  # 3 predictions, 1 document, 2 items-to-be
    url = f"sqlite:///{path}"
    processes, per_writer = 3, 50
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url, str(tmp_path), str(k), str(per_writer)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    deadline = time.monotonic() + 180
    while not all((tmp_path / f"ready-{k}").exists() for k in range(processes)):
        assert time.monotonic() < deadline, "children did not start"
        assert all(c.poll() is None for c in children), [c.communicate() for c in children]
        time.sleep(0.01)
    (tmp_path / "go").touch()

    errors: list[BaseException] = []

    def thread_writer(t: int) -> None:
        try:
            store = Store(url)
            for i in range(per_writer):
                document = (
                    make_document(7, name="shared.txt")
                    if i % 5 == 0
                    else make_document(500_000 + 1000 * t + i)
                )
                store.save_prediction(make_prediction(document, seed=i), document)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=thread_writer, args=(t,)) for t in range(2)]
    for thread in threads:
        thread.start()
    outputs = [child.communicate(timeout=300) for child in children]
    for thread in threads:
        thread.join(timeout=300)
    assert [c.returncode for c in children] == [0] * processes, [err[-2000:] for _, err in outputs]
    assert errors == []
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert all(r["version"] == SCHEMA_VERSION for r in results)
    assert [r["retries"] for r in results] == [0] * processes

    writers = processes + 2
    store = Store(url)
    assert store.schema_version == SCHEMA_VERSION
    assert count(path, "SELECT count(*) FROM predictions") == 3 + writers * per_writer
    assert count(path, "SELECT count(*) FROM attention_maps") == 1 + writers * per_writer
    # make_document(1) from version 1 + one shared text + the distinct ones.
    distinct = processes * (per_writer - per_writer // 5) + 2 * (per_writer - per_writer // 5)
    assert count(path, "SELECT count(*) FROM documents") == 1 + 1 + distinct
    for result in results:
        batch = store.get_batch(result["batch"])
        assert (batch.status, batch.done) == ("done", per_writer)
        assert [i.prediction_id for i in store.batch_items(result["batch"])] == result["ids"]
    # Upgraded exactly once: version-1 batch items were not duplicated by a second upgrade.
    assert count(path, "SELECT count(*) FROM batch_items WHERE batch_id = 1") == 2
    store.close()
    # Backed up once, by the upgrader, holding the version-1 rows; no partial copy left behind.
    backup = backup_path(path, 1)
    assert count(backup, "SELECT count(*) FROM predictions") == 3
    assert count(backup, "SELECT value FROM longbert_meta WHERE key = 'schema_version'") == 1
    assert list(tmp_path.glob("*.partial")) == []


def _forked_writer(store: Store, k: int, n: int) -> None:
    """Runs in a forked child: uses the Store object inherited from the parent."""
    for i in range(n):
        document = make_document(700_000 + 1000 * k + i)
        store.save_prediction(make_prediction(document, seed=i), document)


def test_forked_processes_share_an_inherited_store(tmp_path: Path) -> None:
    """multiprocessing (fork): children must open their own connections, not reuse the parent's."""
    path = tmp_path / "longbert.sqlite"
    store = Store(f"sqlite:///{path}")
    first = make_document(1)
    store.save_prediction(make_prediction(first), first)  # the parent's pool holds a connection
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_forked_writer, args=(store, k, 30)) for k in range(3)]
    for child in children:
        child.start()
    _forked_writer(store, 9, 30)  # the parent writes at the same time
    for child in children:
        child.join(timeout=120)
    assert [c.exitcode for c in children] == [0, 0, 0]
    assert store.count_predictions() == 1 + 4 * 30
    store.close()


def test_switching_an_old_file_to_wal_waits_for_a_writer(tmp_path: Path) -> None:
    """A version-1 file is in rollback-journal mode. While another connection holds the write
    lock, SQLite refuses the switch to WAL at once ("database is locked", busy timeout or not:
    waiting could deadlock); opening must wait for the writer, not fail."""
    path = tmp_path / "longbert.sqlite"
    make_v1_database(path)
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE longbert_meta SET value = value WHERE key = 'app'")

    def commit_later() -> None:
        time.sleep(0.5)
        writer.execute("COMMIT")

    committer = threading.Thread(target=commit_later)
    committer.start()
    enable_wal(Database(make_url(f"sqlite:///{path}")))
    committer.join()
    writer.close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
