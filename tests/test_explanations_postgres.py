"""Stored explanations on a real PostgreSQL server (the server fixtures of
``test_store_postgres``; skipped, saying why, without a server or the psycopg driver)."""

from __future__ import annotations

import threading

from helpers.store_factories import make_document, make_prediction
from test_explanations_store import make_explanation
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401 - fixtures

from longbert.store import Store


def test_explanations_round_trip_and_concurrent_saves_keep_one_row(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    document = make_document(1)
    pid = store.save_prediction(make_prediction(document), document)
    store.save_explanation(pid, make_explanation("attention"))
    # Threads save the same method and label at once: one row, holding one of their payloads.
    errors: list[BaseException] = []

    def save(scale: float) -> None:
        try:
            Store(pg_url).save_explanation(pid, make_explanation(scale=scale))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=save, args=(float(i + 1),)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stored = store.explanations_for(pid)
    assert [e.method for e in stored] == ["occlusion", "attention"]
    assert stored[0].sentences[0].score in {0.25 * (i + 1) for i in range(6)}
