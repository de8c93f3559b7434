"""The store on a real PostgreSQL server: nothing in it may be SQLite-only.

A throw-away cluster is started with the machine's PostgreSQL (``initdb``/``pg_ctl``; as the
``postgres`` user when run as root), or ``LONGBERT_TEST_POSTGRES_URL`` names a server to use
(an admin URL: each test creates and drops its own database). ``scripts/setup.sh dev`` (which
``scripts/run_tests.sh`` runs) installs Debian's ``postgresql`` when run as root; without a
server or the psycopg driver these tests are skipped, saying why (``-rs``).
"""

from __future__ import annotations

import csv
import glob
import io
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from helpers.batch_workers import killed_worker_leaves_an_interrupted_batch
from helpers.store_factories import make_document, make_prediction
from helpers.store_v1 import make_v1_database

from longbert.errors import StoreError
from longbert.results import PredictionError
from longbert.store import SCHEMA_VERSION, BatchBusyError, HistoryFilter, Store, Worker
from longbert.store.engine import Database, close_database
from longbert.store.migrations import initialise

pytest.importorskip("psycopg", reason="the psycopg driver is not installed")


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def pg_admin_url() -> Iterator[str]:
    """An admin URL of a running server (started here when none is given)."""
    given = os.environ.get("LONGBERT_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed: run "
                    "scripts/setup.sh dev as root (apt-get install postgresql)")
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        prefix = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="longbert-pg-"))
    if prefix:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.SubprocessError, OSError, LookupError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {error}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def scratch_database(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the server (its URL), dropped afterwards."""
    name = f"longbert_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    url = str(sa.make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False))
    try:
        yield url
    finally:
        close_database(url)
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database on the server, dropped afterwards."""
    with scratch_database(pg_admin_url) as url:
        yield url


def test_round_trip_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    assert store.schema_version == SCHEMA_VERSION
    document = make_document(1)
    prediction = make_prediction(document, full=True, seed=2)
    prediction_id = store.save_prediction(prediction, document)
    again = store.save_prediction(make_prediction(document, model="m2"), document)  # same text
    back = store.get_prediction(prediction_id, with_full_attention=True)
    assert back.document == document and back.prediction.probabilities == prediction.probabilities
    assert back.prediction.segment_scores == prediction.segment_scores
    assert back.prediction.attention is not None and prediction.attention is not None
    for name in ("token_scores", "word_spans", "word_scores", "sentence_spans", "sentence_scores"):
        a, b = getattr(back.prediction.attention, name), getattr(prediction.attention, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert back.prediction.full_attention is not None and prediction.full_attention is not None
    assert np.array_equal(back.prediction.full_attention.weights, prediction.full_attention.weights)
    assert store.get_prediction(again).document.sha256 == document.sha256
    assert store.count_predictions() == 2

    store.add_correction(prediction_id, "false", note="n")
    run_id = store.start_training_run("run", {"lr": 1e-5})
    store.log_epoch(run_id, 1, {"f1": 0.5})
    store.log_epoch(run_id, 1, {"f1": 0.6})
    store.finish_training_run(run_id, "done", {"f1": 0.6}, "models/x")
    assert store.get_training_run(run_id).epochs[0].metrics == {"f1": 0.6}
    store.register_model("m2", labels=["true", "false"], metrics={"f1": 0.9})
    assert store.get_model("m2").metrics == {"f1": 0.9}

    batch_id = store.create_batch("b", items=["x", "y"])
    other = make_document(2, name="x")
    store.save_prediction(make_prediction(other), other, batch_id=batch_id)
    store.record_error(PredictionError("y", "unreadable"), batch_id=batch_id)
    batch = store.get_batch(batch_id)
    assert (batch.status, batch.done, batch.errors) == ("done", 1, 1)


def test_queries_and_exports_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    texts = ["The 50% SENATE_vote passed.", "Nothing to see here.", "Senate recess begins."]
    for i, text in enumerate(texts):
        document = make_document(i)
        document = type(document)(text=text, name=f"doc_{i}.txt", source="paste")
        pid = store.save_prediction(
            make_prediction(document, label="true" if i else "false", seed=i), document
        )
        if i == 2:
            store.add_correction(pid, "false")
    names = lambda f: [r.document_name for r in store.history(f).rows]  # noqa: E731
    assert names(HistoryFilter(text="senate_vote")) == ["doc_0.txt"]
    assert names(HistoryFilter(text="50%")) == ["doc_0.txt"]
    assert names(HistoryFilter(text="senate")) == ["doc_2.txt", "doc_0.txt"]
    assert names(HistoryFilter(label="true", corrected=True)) == ["doc_2.txt"]
    assert names(HistoryFilter(since=date.today(), until=date.today())) == [
        "doc_2.txt",
        "doc_1.txt",
        "doc_0.txt",
    ]
    assert names(HistoryFilter(until=date(2000, 1, 1))) == []
    distribution = store.label_distribution(use_corrections=True)
    assert [(c.label, c.count) for c in distribution] == [("false", 2), ("true", 1)]
    assert store.filter_options()["label"] == ["false", "true"]
    buffer = io.StringIO()
    assert store.export_predictions(buffer, "csv") == 3
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert [r["final_label"] for r in rows] == ["false", "true", "false"]
    training = io.StringIO()
    assert store.export_corrections_training_set(training) == 1
    # Per prediction source, and corrections per model and label set.
    batch_copy = type(document)(text=texts[0], name="again.txt", source="batch")
    again = store.save_prediction(
        make_prediction(batch_copy, model="topics", labels=("a", "b"), label="a"), batch_copy
    )
    store.add_correction(again, "b")
    assert [r.document_name for r in store.history(HistoryFilter(source="batch")).rows] == ["again.txt"]
    assert store.get_prediction(again).document.source == "paste"
    sets = store.correction_sets()
    assert [(s.model, s.labels, s.documents) for s in sets] == [
        ("topics", ["a", "b"], 1),
        ("hyperpartisan-v1", ["true", "false"], 1),
    ]
    with pytest.raises(StoreError, match="2 label sets"):
        store.count_corrections()
    assert store.count_corrections("topics") == 1 and store.count_corrections(labels=["false", "true"]) == 1


def describe(url: str) -> dict[str, object]:
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    schema: dict[str, object] = {}
    for table in inspector.get_table_names():
        schema[table] = (
            sorted((c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)),
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)),
            sorted(
                (f["name"], f["referred_table"], str(f["options"])) for f in inspector.get_foreign_keys(table)
            ),
        )
    engine.dispose()
    return schema


def test_upgrade_from_version_1_on_postgresql(pg_url: str, pg_admin_url: str) -> None:
    written = make_v1_database(pg_url)
    store = Store(pg_url)
    assert store.schema_version == SCHEMA_VERSION
    stored = store.get_prediction(1)
    assert stored.document == written["document"]
    assert stored.prediction.attention is not None
    assert stored.prediction.attention.token_scores.tobytes() == written["summary"].token_scores.tobytes()
    assert store.get_model("zero-shot:minilm").zero_shot
    assert [i.prediction_id for i in store.batch_items(1)] == [2, 3]
    new = make_document(5)
    assert store.save_prediction(make_prediction(new), new) == 4  # sequences still right
    close_database(pg_url)

    # The upgraded schema is the one a new database gets.
    with scratch_database(pg_admin_url) as fresh:
        Store(fresh).close()
        assert describe(pg_url) == describe(fresh)


def test_parallel_writers_on_postgresql(pg_url: str) -> None:
    """Threads race on the same new document, the same unregistered model and one batch."""
    store = Store(pg_url)
    threads, per_thread = 8, 25
    batch_id = store.create_batch("b", total=threads * per_thread)
    shared = make_document(999, name="shared.txt")
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                document = shared if i % 5 == 0 else make_document(1000 * t + i)
                prediction = make_prediction(document, model="fresh-model", seed=i)
                store.save_prediction(prediction, document, batch_id=batch_id, item_index=t * per_thread + i)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert errors == []
    assert store.count_predictions() == threads * per_thread
    assert [m.name for m in store.list_models()] == ["fresh-model"]
    engine = sa.create_engine(pg_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM documents").scalar() == threads * 20 + 1
        assert (
            connection.exec_driver_sql("SELECT count(*) FROM attention_maps").scalar() == threads * per_thread
        )
    engine.dispose()
    batch = store.get_batch(batch_id)
    assert (batch.status, batch.done) == ("done", threads * per_thread)


def test_failures_on_postgresql(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE users (id SERIAL PRIMARY KEY)")
    engine.dispose()
    store = Store(pg_url)  # a server database may hold other applications' tables too
    batch_id = store.create_batch("b", total=1)
    document = make_document(1)
    with pytest.raises(StoreError, match=">= 0"):
        store.save_prediction(make_prediction(document), document, batch_id=batch_id, item_index=-1)
    assert store.count_predictions() == 0
    with pytest.raises(StoreError, match="no version record"):
        engine = sa.create_engine(pg_url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DELETE FROM longbert_meta")
            connection.exec_driver_sql("DROP TABLE longbert_meta")
        engine.dispose()
        close_database(pg_url)
        Store(pg_url)


def test_model_versions_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    first = store.register_model("hp", labels=["true", "false"], metrics={"f1": 0.7})
    document = make_document(3)
    pid = store.save_prediction(make_prediction(document, model="hp"), document)
    second = store.register_model("hp", labels=["true", "false"], metrics={"f1": 0.9})
    assert second != first and store.get_model("hp").version == 2
    assert store.get_model("hp@v1").metrics == {"f1": 0.7}
    assert store.get_prediction(pid).prediction.model_name == "hp@v1"
    assert len(store.database_id) == 32


def test_another_applications_documents_table_on_postgresql(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE documents (id SERIAL PRIMARY KEY, title TEXT)")
    engine.dispose()
    with pytest.raises(StoreError, match=r"not a LongBERT database.*documents.*\(title\).*untouched"):
        Store(pg_url)
    engine = sa.create_engine(pg_url)
    assert sa.inspect(engine).get_table_names() == ["documents"]
    engine.dispose()


def test_concurrent_first_opens_on_postgresql(pg_url: str) -> None:
    """Several processes' first open of an empty server database: the schema is created once."""
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    databases = [Database(sa.make_url(pg_url)) for _ in range(4)]  # as if in four processes

    def opener(database: Database) -> None:
        try:
            barrier.wait()
            initialise(database)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=opener, args=(d,)) for d in databases]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    for database in databases:
        database.dispose()
    assert errors == []
    assert Store(pg_url).schema_version == SCHEMA_VERSION


def test_a_killed_worker_shows_interrupted_on_postgresql(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LONGBERT_SPOOL_DIR", str(tmp_path / "spool"))
    store = Store(pg_url)
    batch_id = killed_worker_leaves_an_interrupted_batch(store, tmp_path)
    # A worker elsewhere holds a batch until its heartbeat is stale; a claim is then possible.
    other = store.create_batch("other", items=["a"])
    store.claim_batch(other, Worker("another-host", 1, "elsewhere"))
    with pytest.raises(BatchBusyError):
        store.claim_batch(other)
    with sa.create_engine(pg_url).begin() as connection:
        connection.execute(sa.text("UPDATE batches SET heartbeat_at = '2000-01-01' WHERE id = :i"),
                           {"i": other})
    assert store.get_batch(other).status == "interrupted"
    assert sorted(b.id for b in store.list_batches(status="interrupted")) == [other]
    assert store.get_batch(batch_id).status == "done"


def test_spreadsheet_formulas_are_defused_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    document = make_document(3, name="=HYPERLINK(\"http://evil\")")
    pid = store.save_prediction(make_prediction(document), document)
    store.add_correction(pid, "false", note="@SUM(1)")
    buffer = io.StringIO(newline="")
    store.export_predictions(buffer, "csv")
    (row,) = csv.DictReader(io.StringIO(buffer.getvalue(), newline=""))
    assert row["document_name"] == "'=HYPERLINK(\"http://evil\")" and row["correction_note"] == "'@SUM(1)"
