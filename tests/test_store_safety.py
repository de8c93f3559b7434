"""Foreign, corrupt and newer databases are refused untouched; failed writes leave nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_full, make_prediction
from sqlalchemy import event

from longbert.errors import StoreError
from longbert.store import SCHEMA_VERSION, RecordNotFoundError, Store
from longbert.store.schema import APPLICATION_ID


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def snapshot(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and the names beside it (to see -wal/-journal files appear)."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def refused_untouched(path: Path, match: str) -> StoreError:
    """Opening ``path`` fails with a StoreError matching ``match``; the file and folder are as before."""
    before = snapshot(path)
    with pytest.raises(StoreError, match=match) as info:
        Store(url(path))
    assert snapshot(path) == before
    return info.value


def sqlite_file(path: Path, *statements: str) -> Path:
    """An SQLite file made by running ``statements`` (another application's, or a broken one)."""
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()
    return path


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_random_bytes_are_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    path.write_bytes(os.urandom(5000))
    refused_untouched(path, r"not a LongBERT database.*not an SQLite file.*untouched")


def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("id,text\n1,hello\n", encoding="utf-8")
    refused_untouched(path, "not an SQLite file")


def test_other_applications_database_is_refused(tmp_path: Path) -> None:
    path = sqlite_file(
        tmp_path / "app.sqlite",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)",
        "INSERT INTO users (email) VALUES ('a@b.c')",
    )
    refused_untouched(path, "not a LongBERT database: it holds other tables \\(users\\)")
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL


def test_sqlite_header_with_garbage_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    refused_untouched(path, r"corrupt.*untouched")


def test_damaged_longbert_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(url(path))
    document = make_document(1)
    store.save_prediction(make_prediction(document), document)
    store.close()  # checkpoints the WAL into the file
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # page 1 (the schema) overwritten, header kept
    path.write_bytes(bytes(data))
    refused_untouched(path, "corrupt")


def test_another_applications_documents_table_is_not_called_damaged(tmp_path: Path) -> None:
    path = sqlite_file(
        tmp_path / "notes.sqlite",
        "CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT, body TEXT)",
        "INSERT INTO documents (title, body) VALUES ('a', 'b')",
    )
    error = refused_untouched(path, r"not a LongBERT database.*documents.*\(body, title\).*untouched")
    assert "damaged" not in str(error) and "Restore" not in str(error)


@pytest.mark.parametrize(
    ("file_name", "statements", "match"),
    [
        pytest.param(
            "views.sqlite",
            [
                "CREATE VIEW answer AS SELECT 42 AS value",
                "CREATE TEMP TABLE scratch (x)",  # temporary: not in the file
            ],
            r"not a LongBERT database: it holds views \(answer\).*untouched",
            id="views-only-file-is-not-taken-over",
        ),
        pytest.param(
            "mixed.sqlite",
            [
                "CREATE TABLE documents (id INTEGER PRIMARY KEY, name TEXT)",
                "CREATE TRIGGER audit AFTER INSERT ON documents BEGIN SELECT 1; END",
            ],
            r"not a LongBERT database: it holds triggers \(audit\)",
            id="longbert-tables-with-a-foreign-trigger-are-foreign",
        ),
        pytest.param(
            "other.sqlite",
            ["PRAGMA application_id = 1196444487"],  # a GeoPackage ("GPKG")
            r"not a LongBERT database: its SQLite application id is 0x47504b47",
            id="another-application-id-is-refused-even-when-empty",
        ),
        pytest.param(
            "half.sqlite",
            ["CREATE TABLE documents (id INTEGER PRIMARY KEY)"],
            "no version record",
            id="longbert-tables-without-version-are-refused",
        ),
        pytest.param(
            "other.sqlite",
            [
                "CREATE TABLE longbert_meta (key TEXT PRIMARY KEY, value TEXT)",
                "INSERT INTO longbert_meta VALUES ('app', 'something-else')",
            ],
            "not a LongBERT database",
            id="foreign-meta-table-is-refused",
        ),
    ],
)
def test_foreign_or_unversioned_sqlite_files_are_refused(
    tmp_path: Path, file_name: str, statements: list[str], match: str
) -> None:
    refused_untouched(sqlite_file(tmp_path / file_name, *statements), match)


def test_new_files_carry_longbert_application_id(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    Store(url(path)).close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    connection.close()


def test_newer_schema_asks_to_upgrade_longbert(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    Store(url(path)).close()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE longbert_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    connection.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"newer LongBERT.*Upgrade LongBERT"):
        Store(url(path))
    assert path.read_bytes() == before


def test_folder_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a folder"):
        Store(url(tmp_path))


def test_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    store = Store(url(path))
    assert store.schema_version == SCHEMA_VERSION
    store.close()


def test_unknown_batch_saves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(url(path))
    document = make_document(2)
    with pytest.raises(RecordNotFoundError, match="no batch 42"):
        store.save_prediction(make_prediction(document, full=True), document, batch_id=42)
    for table in ("documents", "models", "predictions", "attention_maps", "batch_items"):
        assert count(path, table) == 0, table
    store.close()


def limit_blob_size(store: Store, max_bytes: int) -> None:
    """Make SQLite itself refuse values over ``max_bytes`` on every (new) connection."""
    store._db.engine.dispose()

    @event.listens_for(store._db.engine, "connect")
    def _limit(dbapi_connection: sqlite3.Connection, record: object) -> None:
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_bytes)


def test_database_failure_mid_transaction_rolls_everything_back(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(url(path))
    kept = make_document(1)
    store.save_prediction(make_prediction(kept), kept)
    limit_blob_size(store, 8000)  # the text and the summary fit; the full map does not
    document = make_document(2, words=200)
    prediction = make_prediction(document, model="new-model")
    prediction.full_attention = make_full(seq_len=64)
    # Document, model and prediction rows are inserted, then SQLite refuses the attention blob.
    with pytest.raises(StoreError, match="too large"):
        store.save_prediction(prediction, document)
    assert (count(path, "documents"), count(path, "models"), count(path, "predictions")) == (1, 1, 1)
    assert count(path, "attention_maps") == 1
    # Without the full map it fits, and the store is still usable.
    store.save_prediction(prediction, document, store_full_attention=False)
    assert count(path, "predictions") == 2
    store.close()


def test_late_validation_failure_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(url(path))
    batch_id = store.create_batch("b", total=1)
    document = make_document(3)
    # The item position is checked after the prediction rows were inserted.
    with pytest.raises(StoreError, match=">= 0"):
        store.save_prediction(make_prediction(document), document, batch_id=batch_id, item_index=-1)
    for table in ("documents", "models", "predictions", "attention_maps", "batch_items"):
        assert count(path, table) == 0, table
    assert store.get_batch(batch_id).status == "pending"
    store.close()


def test_in_memory_database_works() -> None:
    store = Store("sqlite://")
    document = make_document(3)
    prediction_id = store.save_prediction(make_prediction(document), document)
    assert store.get_prediction(prediction_id).document == document
    store.close()
