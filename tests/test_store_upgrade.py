"""Upgrading a schema-version-1 database, written here exactly as version 1 created it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from helpers.store_factories import make_document, make_prediction
from helpers.store_v1 import make_v1_database, make_v2_database

from longbert.store import SCHEMA_VERSION, HistoryFilter, Store
from longbert.store.migrations import backup_path
from longbert.store.schema import APPLICATION_ID


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def test_upgrade_from_version_1_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    written = make_v1_database(path)
    before = table_counts(path)

    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION
    after = table_counts(path)
    assert {t: after[t] for t in before if t != "longbert_meta"} == {
        t: n for t, n in before.items() if t != "longbert_meta"
    }

    stored = store.get_prediction(1)
    assert stored.document == written["document"] and stored.prediction.probabilities["true"] == 0.875
    assert stored.prediction.attention is not None
    assert stored.prediction.attention.token_scores.tobytes() == written["summary"].token_scores.tobytes()
    assert [(c.label, c.note) for c in stored.corrections] == [("false", None)]
    assert (
        store.get_model("zero-shot:minilm").kind == "zero_shot" and store.get_model("hp-v1").kind == "trained"
    )
    items = store.batch_items(1)  # v1 batches get done items from their predictions
    assert [(i.position, i.status, i.prediction_id) for i in items] == [(0, "done", 2), (1, "done", 3)]
    assert store.get_training_run(1).epochs[0].metrics == {"f1": 0.7}
    # v3: predictions' source backfilled from their document, models at version 1, an id.
    assert {r.source for r in store.history().rows} == {"upload"} and stored.source == "upload"
    assert {m.version for m in store.list_models()} == {1}
    assert len(store.database_id) == 32

    # The new version's features work on the upgraded file.
    document = make_document(2, name="a")
    batch_id = store.create_batch("new", items=["a"])
    store.save_prediction(make_prediction(document), document, batch_id=batch_id)
    store.add_correction(1, "true", note="after upgrade")
    assert store.get_batch(batch_id).status == "done"
    store.close()

    # A copy of the version-1 file was kept.
    backup = backup_path(path, 1)
    assert table_counts(backup) == before
    with sqlite3.connect(backup) as connection:
        assert connection.execute(
            "SELECT value FROM longbert_meta WHERE key = 'schema_version'"
        ).fetchone() == ("1",)


def describe_schema(path: Path) -> dict[str, Any]:
    inspector = sa.inspect(sa.create_engine(f"sqlite:///{path}"))
    schema = {}
    for table in inspector.get_table_names():
        schema[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in inspector.get_columns(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
            "foreign": sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"], str(f["options"]))
                for f in inspector.get_foreign_keys(table)
            ),
            "primary": inspector.get_pk_constraint(table)["constrained_columns"],
        }
    return schema


def test_upgraded_schema_equals_a_new_one(tmp_path: Path) -> None:
    old, new = tmp_path / "old.sqlite", tmp_path / "new.sqlite"
    make_v1_database(old)
    Store(f"sqlite:///{old}").close()
    Store(f"sqlite:///{new}").close()
    assert describe_schema(old) == describe_schema(new)


def application_id(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute("PRAGMA application_id").fetchone()[0])


def test_upgrade_from_version_2_backfills_prediction_sources(tmp_path: Path) -> None:
    path = tmp_path / "longbert.sqlite"
    written = make_v2_database(path)
    before = table_counts(path)
    assert application_id(path) == 0  # files before v3 have no application id, and still open

    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION
    after = table_counts(path)
    assert {t: after[t] for t in before if t != "longbert_meta"} == {
        t: n for t, n in before.items() if t != "longbert_meta"
    }
    assert application_id(path) == APPLICATION_ID
    # Old rows can only know their document's source; the batch filter still works by batch.
    assert [(r.id, r.source) for r in store.history().rows if r.document_name == "pasted.txt"] == [
        (5, "paste"),
        (4, "paste"),
    ]
    assert [r.id for r in store.history(HistoryFilter(batch_id=1)).rows] == [5, 3, 2]
    database_id = store.database_id
    assert len(database_id) == 32
    model = store.get_model("hp-v1")
    assert model.version == 1 and model.metrics == {"f1": 0.7}

    # From now on, a prediction records where its text came from, beside the first source.
    pasted = written["pasted"]
    batch_copy = type(pasted)(text=pasted.text, name="in-a-batch.txt", source="batch")
    pid = store.save_prediction(make_prediction(batch_copy, model="hp-v1"), batch_copy)
    assert [r.id for r in store.history(HistoryFilter(source="batch")).rows] == [pid]
    stored = store.get_prediction(pid)
    assert (stored.source, stored.document.source, stored.document.name) == ("batch", "paste", "pasted.txt")
    assert stored.prediction.document_name == "in-a-batch.txt"
    store.close()

    assert Store(f"sqlite:///{path}").database_id == database_id  # made once, kept
    assert table_counts(backup_path(path, 2)) == before
