"""Foreign, corrupt and newer databases are refused untouched; failed writes leave nothing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from store_factories import make_document, make_prediction

from longbert.errors import StoreError
from longbert.store import SCHEMA_VERSION, RecordNotFoundError, Store


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def snapshot(path: Path) -> tuple[bytes, list[str]]:
    """The file's bytes and the names beside it (to see -wal/-journal files appear)."""
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_random_bytes_are_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    path.write_bytes(os.urandom(5000))
    before = snapshot(path)
    with pytest.raises(StoreError, match=r"not a LongBERT database.*not an SQLite file.*untouched"):
        Store(url(path))
    assert snapshot(path) == before


def test_text_file_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("id,text\n1,hello\n", encoding="utf-8")
    before = snapshot(path)
    with pytest.raises(StoreError, match="not an SQLite file"):
        Store(url(path))
    assert snapshot(path) == before


def test_other_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        connection.execute("INSERT INTO users (email) VALUES ('a@b.c')")
    connection.close()
    before = snapshot(path)
    with pytest.raises(StoreError, match="not a LongBERT database: it holds other tables \\(users\\)"):
        Store(url(path))
    assert snapshot(path) == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL


def test_sqlite_header_with_garbage_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = snapshot(path)
    with pytest.raises(StoreError, match=r"corrupt.*untouched"):
        Store(url(path))
    assert snapshot(path) == before


def test_damaged_longbert_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(url(path))
    document = make_document(1)
    store.save_prediction(make_prediction(document), document)
    store.close()  # checkpoints the WAL into the file
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # page 1 (the schema) overwritten, header kept
    path.write_bytes(bytes(data))
    before = snapshot(path)
    with pytest.raises(StoreError, match="corrupt"):
        Store(url(path))
    assert snapshot(path) == before


def test_longbert_tables_without_version_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "half.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE documents (id INTEGER PRIMARY KEY)")
    connection.close()
    with pytest.raises(StoreError, match="no version record"):
        Store(url(path))


def test_foreign_meta_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE longbert_meta (key TEXT PRIMARY KEY, value TEXT)")
        connection.execute("INSERT INTO longbert_meta VALUES ('app', 'something-else')")
    connection.close()
    with pytest.raises(StoreError, match="not a LongBERT database"):
        Store(url(path))


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


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    store = Store(url(path))
    document = make_document(2)
    # The document, model, prediction and attention rows are written first; the unknown batch is
    # found last. The whole transaction must roll back.
    with pytest.raises(RecordNotFoundError, match="no batch 42"):
        store.save_prediction(make_prediction(document, full=True), document, batch_id=42)
    for table in ("documents", "models", "predictions", "attention_maps", "batch_items"):
        assert count(path, table) == 0, table

    # Same with an existing document: the new prediction must not half-exist.
    first = store.save_prediction(make_prediction(document), document)
    with pytest.raises(RecordNotFoundError):
        store.save_prediction(make_prediction(document, model="other"), document, batch_id=42)
    assert (count(path, "predictions"), count(path, "attention_maps"), count(path, "models")) == (1, 1, 1)
    assert store.get_prediction(first).prediction.model_name == "hyperpartisan-v1"
    store.close()


def test_in_memory_database_works() -> None:
    store = Store("sqlite://")
    document = make_document(3)
    prediction_id = store.save_prediction(make_prediction(document), document)
    assert store.get_prediction(prediction_id).document == document
    store.close()
