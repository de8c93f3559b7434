"""``Store.transaction()`` and the one-transaction-per-task Label Studio import on a real
PostgreSQL server (the server fixtures of test_store_postgres: skipped, saying why, without a
server or psycopg). There a failed statement aborts the transaction until its savepoint is
rolled back: a call that fails inside a block must leave the block usable."""

from __future__ import annotations

import pytest
import test_label_studio_import_atomic as atomic
import test_store_transaction as plain
from helpers.store_factories import make_document, make_prediction
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401 - pytest fixtures

from longbert.errors import StoreError
from longbert.store import Store


def test_a_block_is_all_or_nothing_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    plain.test_a_block_that_raises_stores_none_of_its_writes(store)
    plain.test_a_nested_block_is_a_savepoint(store)


def test_a_database_error_in_a_block_leaves_the_block_usable_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    first, too_long, last = (make_document(n, name=name) for n, name in ((1, "a"), (2, "x" * 2000), (3, "c")))
    with store.transaction():
        store.save_prediction(make_prediction(first, seed=1), first)
        with pytest.raises(StoreError, match="too long"):  # varchar(1024): the server refuses it
            store.save_prediction(make_prediction(too_long, seed=2), too_long)
        store.save_prediction(make_prediction(last, seed=3), last)
    assert sorted(r.document_name for r in store.history().rows) == ["a", "c"]


def test_a_task_cut_short_is_not_stored_and_a_reimport_adds_it_on_postgresql(
    pg_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(pg_url)
    atomic._fail_in_task_2(store, monkeypatch, 1, StoreError("server closed the connection"))
    done = atomic._import(store)
    assert len(done.skipped) == 1 and done.skipped[0].startswith("task 2: not stored")
    atomic._check_task_2_absent(store)
    monkeypatch.undo()
    atomic._check_reimport_completes(store)
