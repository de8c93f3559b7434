"""Batch labelling without a browser: staging, saving as results come, stopping and resuming."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from longbert.document import Document
from longbert.errors import StoreError
from longbert.results import Prediction, PredictionError
from longbert.store import Store
from longbert.store.spool import batch_spool, database_spool, spool_root
from longbert.ui.batch_jobs import (
    BatchSettings,
    classify_batch,
    resume_work,
    stage_batch,
    upload_work,
)
from longbert.ui.corrections import batch_labels
from longbert.ui.jobs import JobContext, JobManager
from longbert.ui.tables import batch_rows

SETTINGS = BatchSettings(model="zero-shot", model_name="fake", labels={"a": "a", "b": "b"})


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'b.sqlite'}")
    monkeypatch.delenv("LONGBERT_SPOOL_DIR", raising=False)
    return Store(f"sqlite:///{tmp_path / 'b.sqlite'}")


def fake_classify(documents: Sequence[Document]) -> list[Prediction | PredictionError]:
    """Label "a" for texts starting with a or c, else "b"; fail on texts saying FAIL."""
    out: list[Prediction | PredictionError] = []
    for d in documents:
        if "FAIL" in d.text:
            out.append(PredictionError(d.name, "model failed: test", d.sha256))
            continue
        label = "a" if d.text[0] in "ac" else "b"
        out.append(Prediction(
            document_name=d.name, document_sha256=d.sha256, label=label,
            probabilities={"a": 0.9 if label == "a" else 0.1, "b": 0.1 if label == "a" else 0.9},
            labels=[label], model_name="fake", strategy="truncate", strategy_params={},
            total_tokens=10, used_tokens=10, spans=[(0, len(d.text))], segment_scores=[],
            attention=None, latency_ms=1.0,
        ))
    return out


FILES = [
    ("one.txt", b"alpha text"),
    ("two.txt", b"bravo text"),
    ("bad.txt", b""),
    ("rows.csv", b"text\ncat one\ndog two\nFAIL here\n"),
]


def _run(fn, timeout: float = 30):  # type: ignore[no-untyped-def]
    return JobManager().submit(fn, title="t", kind="batch").wait(timeout)


def test_spool_lives_beside_the_sqlite_file(store: Store, tmp_path: Path) -> None:
    assert spool_root(store) == tmp_path.resolve() / "spool"
    assert database_spool(store) == tmp_path.resolve() / "spool" / f"db-{store.database_id}"


def test_stage_and_classify_save_every_item_and_clean_up(store: Store) -> None:
    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "b", iter(FILES), SETTINGS, num_files=len(FILES))
        folder = batch_spool(store, batch_id)
        assert folder is not None and folder.is_dir() and folder.parent == database_spool(store)
        classify_batch(ctx, store, batch_id, fake_classify, show_finished=False, chunk=2)
        return batch_id

    snap = _run(work)
    assert snap.status == "done", snap.error
    batch_id = snap.result
    batch = store.get_batch(batch_id)
    assert (batch.status, batch.total, batch.done, batch.errors) == ("done", 6, 4, 2)
    rows = batch_rows(store, batch_id)
    assert [r["document"] for r in rows] == [
        "one.txt", "two.txt", "bad.txt", "rows.csv#row=1", "rows.csv#row=2", "rows.csv#row=3"]
    assert [r["label"] for r in rows if r["status"] == "ok"] == ["a", "b", "a", "b"]
    errors = {r["document"]: r["error"] for r in rows if r["status"] == "error"}
    assert "empty" in errors["bad.txt"] and "model failed" in errors["rows.csv#row=3"]
    assert len(snap.rows) == 6 and snap.errors == 2 and snap.done == 6
    assert not database_spool(store).exists()  # the batch's folder, and the emptied db folder
    assert batch_labels(store, batch.config) == ["a", "b"]
    assert BatchSettings.from_config(batch.config) == SETTINGS


def test_stopped_batch_resumes_where_it_stopped(store: Store) -> None:
    gate, first_done = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow(documents: Sequence[Document]) -> list[Prediction | PredictionError]:
        calls.extend(d.name for d in documents)
        first_done.set()
        gate.wait(10)
        return fake_classify(documents)

    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "b", iter(FILES), SETTINGS)
        ctx.set_meta(batch_id=batch_id)
        classify_batch(ctx, store, batch_id, slow, show_finished=False, chunk=2)
        return batch_id

    job = JobManager().submit(work, title="t", kind="batch")
    assert first_done.wait(10)
    job.cancel()
    gate.set()
    snap = job.wait(30)
    assert snap.status == "cancelled"
    batch_id = job.meta["batch_id"]
    batch = store.get_batch(batch_id)
    assert batch.status == "interrupted" and batch.done == 2 and batch.pending == 3
    assert [b.id for b in store.unfinished_batches()] == [batch_id]

    resumed = _run(resume_work(store, batch_id, fake_classify))
    assert resumed.status == "done", resumed.error
    assert store.get_batch(batch_id).status == "done"
    assert calls == ["one.txt", "two.txt"]  # the first two were not classified again
    assert len(resumed.rows) == 6  # the resumed table shows the whole batch


def test_lost_spool_gives_error_rows_not_a_crash(store: Store) -> None:
    import shutil

    def stage(ctx: JobContext) -> int:
        return stage_batch(ctx, store, "b", iter(FILES[:2]), SETTINGS)

    batch_id = _run(stage).result
    shutil.rmtree(batch_spool(store, batch_id))  # type: ignore[arg-type]
    snap = _run(resume_work(store, batch_id, fake_classify))
    assert snap.status == "done"
    assert all("upload the file again" in (r["error"] or "") for r in snap.rows)


def test_tables_use_the_chosen_text_column(store: Store) -> None:
    settings = BatchSettings(model="zero-shot", model_name="fake", labels={"a": "a", "b": "b"},
                             text_column="body")
    files = [("t.csv", b"body,other\nalpha one,x\n"), ("u.csv", b"text\nalpha\n")]

    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "b", iter(files), settings)
        classify_batch(ctx, store, batch_id, fake_classify, show_finished=False)
        return batch_id

    rows = batch_rows(store, _run(work).result)
    assert [(r["document"], r["status"]) for r in rows] == [("t.csv#row=1", "ok"),
                                                            ("u.csv", "error")]
    assert "body" in rows[1]["error"]


def test_upload_without_documents_is_a_clear_failure(store: Store) -> None:
    snap = _run(lambda ctx: stage_batch(ctx, store, "b", iter([]), SETTINGS))
    assert snap.status == "failed" and "no documents" in (snap.error or "")
    assert store.list_batches() == []


def test_thousands_of_files_stream_through(store: Store) -> None:
    count = 1200
    files = ((f"doc-{i:04d}.txt", f"{'alpha' if i % 2 else 'bravo'} {i}".encode())
             for i in range(count))  # a generator: the stager never holds them all

    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, "many", files, SETTINGS, num_files=count)
        classify_batch(ctx, store, batch_id, fake_classify, show_finished=False, chunk=64)
        return batch_id

    snap = _run(work, timeout=300)
    assert snap.status == "done", snap.error
    batch = store.get_batch(snap.result)
    assert (batch.total, batch.done, batch.errors) == (count, count, 0)
    assert len(snap.rows) == count


def _stage(store: Store, files: list[tuple[str, bytes]]) -> int:
    snap = _run(lambda ctx: stage_batch(ctx, store, "b", iter(files), SETTINGS))
    assert snap.status == "done", snap.error
    return int(snap.result)


def _labels(store: Store, batch_id: int) -> dict[str, str | None]:
    snap = _run(resume_work(store, batch_id, fake_classify))
    assert snap.status == "done", snap.error
    return {r["document"]: r["label"] or r["error"] for r in batch_rows(store, batch_id)}


def test_two_databases_in_one_folder_never_read_each_others_texts(tmp_path: Path) -> None:
    first, second = Store(f"sqlite:///{tmp_path / 'a.sqlite'}"), Store(f"sqlite:///{tmp_path / 'b.sqlite'}")
    one = _stage(first, [("first.txt", b"alpha, from the first database")])
    two = _stage(second, [("second.txt", b"bravo, from the second database")])
    assert one == two == 1  # the same batch id in both: the spool must not be keyed by it alone
    assert batch_spool(first, one) != batch_spool(second, two)
    assert _labels(second, two) == {"second.txt": "b"}
    assert _labels(first, one) == {"first.txt": "a"}
    documents = [first.get_prediction(1).document, second.get_prediction(1).document]
    assert [d.text for d in documents] == [b"alpha, from the first database".decode(),
                                           b"bravo, from the second database".decode()]


def test_a_recreated_database_does_not_pick_up_the_old_ones_texts(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    old = Store(f"sqlite:///{path}")
    _stage(old, [("secret.txt", b"alpha: the old database's text")])
    old_spool = database_spool(old)
    old.close()
    for leftover in tmp_path.glob("db.sqlite*"):
        leftover.unlink()
    new = Store(f"sqlite:///{path}")
    batch_id = _stage(new, [("new.txt", b"bravo: the new text")])
    assert batch_id == 1 and database_spool(new) != old_spool and old_spool.is_dir()
    assert _labels(new, batch_id) == {"new.txt": "b"}
    assert [r.document_name for r in new.history().rows] == ["new.txt"]


def test_a_text_that_is_not_the_staged_one_is_refused(store: Store) -> None:
    batch_id = _stage(store, [("one.txt", b"alpha"), ("two.txt", b"bravo")])
    folder = batch_spool(store, batch_id)
    assert folder is not None
    (folder / "0.txt").write_bytes(b"another text under the same position")
    rows = _labels(store, batch_id)
    assert rows["two.txt"] == "b" and "SHA-256 differs" in str(rows["one.txt"])
    assert store.count_predictions() == 1


def test_batches_staged_by_the_shared_spool_are_not_read(store: Store, tmp_path: Path) -> None:
    legacy = store.create_batch("old", config=SETTINGS.to_config(), items=["old.txt"])
    shared = tmp_path / "spool" / f"batch-{legacy}"
    shared.mkdir(parents=True)
    (shared / "0.txt").write_text("alpha from whichever database used this folder", encoding="utf-8")
    assert batch_spool(store, legacy) is None
    assert "older LongBERT" in str(_labels(store, legacy)["old.txt"])
    assert store.count_predictions() == 0 and store.get_batch(legacy).status == "done"


def test_a_failed_staging_leaves_no_batch_and_no_spool(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise StoreError("database is full")

    monkeypatch.setattr(store, "create_batch", refuse)
    snap = _run(lambda ctx: stage_batch(ctx, store, "b", iter(FILES), SETTINGS))
    assert snap.status == "failed" and "database is full" in (snap.error or "")
    monkeypatch.undo()
    assert store.list_batches() == [] and not database_spool(store).exists()

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("LONGBERT_SPOOL_DIR", str(blocker))
    snap = _run(lambda ctx: stage_batch(ctx, store, "b", iter(FILES), SETTINGS))
    assert snap.status == "failed" and "Could not keep the batch's texts" in (snap.error or "")
    assert "LONGBERT_SPOOL_DIR" in (snap.error or "") and store.list_batches() == []


def test_unreadable_files_are_error_items_from_the_start(store: Store) -> None:
    batch_id = _stage(store, [("bad.txt", b""), ("worse.txt", b"   ")])
    batch = store.get_batch(batch_id)
    assert (batch.status, batch.errors, batch.pending) == ("done", 2, 0)
    assert [i.status for i in store.batch_items(batch_id)] == ["error", "error"]


def test_upload_work_stages_then_classifies_and_publishes_the_batch_id(store: Store) -> None:
    job = JobManager().submit(upload_work(store, "upload", iter(FILES), SETTINGS, fake_classify,
                                          num_files=len(FILES)), title="u", kind="batch")
    snap = job.wait(60)
    assert snap.status == "done", snap.error
    assert job.meta["batch_id"] == snap.result
    batch = store.get_batch(snap.result)
    assert (batch.name, batch.status, batch.done, batch.errors) == ("upload", "done", 4, 2)
    assert batch.worker is None  # the lease was let go
    assert not database_spool(store).exists()
