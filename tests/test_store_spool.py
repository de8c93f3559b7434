"""The batch spool: staged under a temporary name, orphans swept (never a live stager's), capped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.store_factories import make_prediction

from longbert.document import Document
from longbert.errors import StoreError
from longbert.store import Store
from longbert.store.spool import (
    BATCH_PREFIX,
    LOCK_NAME,
    STAGING_PREFIX,
    SpoolStager,
    batch_spool,
    database_spool,
    spool_bytes,
    sweep_spool,
)
from longbert.ui.batch_jobs import BatchSettings, stage_batch
from longbert.ui.jobs import JobManager

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = BatchSettings(model="zero-shot", model_name="fake", labels={"a": "a", "b": "b"})


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv("LONGBERT_SPOOL_DIR", raising=False)
    monkeypatch.delenv("LONGBERT_SPOOL_MAX_BYTES", raising=False)
    return Store(f"sqlite:///{tmp_path / 'spool.sqlite'}")


def _stage(store: Store, files: list[tuple[str, bytes]]):  # type: ignore[no-untyped-def]
    return JobManager().submit(lambda ctx: stage_batch(ctx, store, "b", iter(files), SETTINGS),
                               title="s", kind="batch").wait(60)


def _age(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(folder, (then, then))


def _document(i: int) -> Document:
    return Document(text=f"alpha text {i}", name=f"{i}.txt", source="batch")


STAGER = """
import sys, time
from pathlib import Path
from longbert.store import Store
from longbert.ui.batch_jobs import BatchSettings, stage_batch
from longbert.ui.jobs import JobManager

url, marker = sys.argv[1], Path(sys.argv[2])
store = Store(url)

def files():
    for i in range(2000):
        if i == 60:
            marker.touch()  # 60 texts are on disk: the parent kills us now
            time.sleep(600)
        yield f"doc-{i}.txt", f"alpha text number {i} ".encode() * 20

settings = BatchSettings(model="zero-shot", model_name="fake", labels={"a": "a"})
JobManager().submit(lambda ctx: stage_batch(ctx, store, "big", files(), settings),
                    title="stage", kind="batch").wait()
"""


def test_kill_9_while_staging_leaves_an_orphan_that_the_sweep_removes(
    store: Store, tmp_path: Path
) -> None:
    marker = tmp_path / "staged"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LONGBERT_SPOOL_DIR", None)
    child = subprocess.Popen([sys.executable, "-c", STAGER, store.url, str(marker)], env=env,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the stager never got going"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert store.list_batches() == []  # no batch row...
    (orphan,) = database_spool(store).iterdir()  # ...but the texts, under the temporary name
    assert orphan.name.startswith(STAGING_PREFIX)
    assert len(list(orphan.glob("*.txt"))) >= 50
    assert sweep_spool(store).removed == []  # fresh: could be a stager at work
    _age(orphan, 7200)
    report = sweep_spool(store)
    assert report.removed == [orphan] and report.freed_bytes > 50 * 400
    assert not database_spool(store).exists()


def test_a_live_stager_is_never_swept(store: Store) -> None:
    stager = SpoolStager.open(store)
    stager.write(0, _document(0))
    _age(stager.staging, 7200)
    assert sweep_spool(store, grace_seconds=0).removed == []  # its lock is held
    stager.publish()  # renamed, batch row not yet created: still held
    _age(stager.published, 7200)
    assert sweep_spool(store, grace_seconds=0).removed == []
    assert (stager.published / "0.txt").is_file()
    stager.close()  # a stager that died before creating its row leaves exactly this
    assert sweep_spool(store, grace_seconds=0).removed == [stager.published]


def test_staging_publishes_the_complete_folder_under_its_batch_name(store: Store) -> None:
    snap = _stage(store, [("one.txt", b"alpha"), ("two.txt", b"bravo")])
    assert snap.status == "done", snap.error
    folder = batch_spool(store, snap.result)
    assert folder is not None and folder.name.startswith(BATCH_PREFIX)
    assert sorted(p.name for p in folder.iterdir()) == ["0.txt", "1.txt"]  # no lock left
    assert [p.name for p in database_spool(store).iterdir()] == [folder.name]
    assert not (folder / LOCK_NAME).exists()


def test_sweep_keeps_what_a_batch_still_needs_and_drops_the_rest(store: Store) -> None:
    pending = _stage(store, [("one.txt", b"alpha")]).result
    finished = _stage(store, [("two.txt", b"bravo")]).result
    kept, stale = batch_spool(store, pending), batch_spool(store, finished)
    assert kept is not None and stale is not None
    document = Document(text="bravo", name="two.txt", source="batch")
    store.save_prediction(make_prediction(document), document, batch_id=finished, item_index=0)
    rowless = database_spool(store) / f"{BATCH_PREFIX}{'0' * 32}"  # killed before its row
    rowless.mkdir()
    (rowless / "0.txt").write_text("charlie", encoding="utf-8")
    foreign = database_spool(store) / "notes"
    foreign.mkdir()
    for folder in (kept, stale, rowless, foreign):
        _age(folder, 7200)
    report = sweep_spool(store)
    assert sorted(report.removed) == sorted([stale, rowless])
    assert kept.is_dir() and foreign.is_dir()


def test_the_spool_cap_refuses_an_upload_clearly_and_keeps_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _stage(store, [("one.txt", b"alpha." * 100)])  # 600 bytes waiting
    assert first.status == "done", first.error
    monkeypatch.setenv("LONGBERT_SPOOL_MAX_BYTES", "1000")
    snap = _stage(store, [("two.txt", b"bravo " * 50), ("three.txt", b"charlie " * 50)])
    assert snap.status == "failed"
    message = snap.error or ""
    assert "does not fit in the batch spool" in message and "LONGBERT_SPOOL_MAX_BYTES" in message
    assert "already take 600 bytes" in message and "the limit is 1.0 kB" in message
    assert "Nothing was saved" in message and "History" in message
    assert [b.id for b in store.list_batches()] == [first.result]
    assert [p.name for p in database_spool(store).iterdir()] == [
        batch_spool(store, first.result).name  # type: ignore[union-attr]
    ]
    assert spool_bytes(database_spool(store)) == 600
    monkeypatch.setenv("LONGBERT_SPOOL_MAX_BYTES", "lots")
    assert "must be a number of bytes" in (_stage(store, [("x.txt", b"x")]).error or "")
    monkeypatch.setenv("LONGBERT_SPOOL_MAX_BYTES", "0")  # no cap
    assert _stage(store, [("two.txt", b"bravo " * 500)]).status == "done"


def test_a_spool_that_cannot_be_written_says_where_and_what_to_do(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("LONGBERT_SPOOL_DIR", str(blocker))
    with pytest.raises(StoreError, match="LONGBERT_SPOOL_DIR"):
        SpoolStager.open(store)
