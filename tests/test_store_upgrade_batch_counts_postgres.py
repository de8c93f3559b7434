"""Schema v8's recount of old command-line batches on a real PostgreSQL server (the server
fixtures of test_store_postgres: skipped, saying why, without a server or psycopg)."""

from __future__ import annotations

import sqlalchemy as sa
from helpers.store_factories import make_document, make_prediction
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401 - pytest fixtures

from longbert.results import PredictionError
from longbert.store import SCHEMA_VERSION, HistoryFilter, Store
from longbert.store.engine import close_database

CLI = {"cli": {"output": "out.csv", "engine": "local"}, "model": "m"}


def test_an_old_command_line_batch_is_recounted_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    # As the command line recorded it before superseding: each result appended beside the last.
    batch_id = store.create_batch("predict → out.csv", total=0, config={"model": "m"})
    first_a = store.save_prediction(make_prediction(make_document(1, name="a.txt"), seed=1),
                                    make_document(1, name="a.txt"), batch_id=batch_id)  # fmt: skip
    store.record_error(PredictionError("b.txt", "missing"), batch_id=batch_id)
    for seed, name in ((2, "b.txt"), (3, "a.txt")):
        document = make_document(seed, name=name)
        store.save_prediction(make_prediction(document, seed=seed), document, batch_id=batch_id)
    batch = store.get_batch(batch_id)
    assert (batch.total, batch.done, batch.errors) == (4, 3, 1)
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:  # its config, and the schema version it was written with
        batches = sa.table("batches", sa.column("id", sa.Integer), sa.column("config", sa.JSON))
        connection.execute(batches.update().where(batches.c.id == batch_id).values(config=CLI))
        connection.execute(sa.text("UPDATE longbert_meta SET value = '7' WHERE key = 'schema_version'"))
    engine.dispose()
    close_database(pg_url)

    store = Store(pg_url)
    assert store.schema_version == SCHEMA_VERSION
    batch = store.get_batch(batch_id)
    assert (batch.total, batch.done, batch.errors, batch.pending) == (2, 2, 0, 0)
    assert [i.status for i in store.batch_items(batch_id, include_superseded=True)] == [
        "superseded",
        "superseded",
        "done",
        "done",
    ]
    assert store.count_batch_items(batch_id) == 4
    assert first_a not in {r.id for r in store.history(HistoryFilter(batch_id=batch_id)).rows}
    assert store.get_prediction(first_a).batch_id is None
