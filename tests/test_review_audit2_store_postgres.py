"""The label-set reads of the Review queue (:mod:`longbert.store.text_labels`) on a real
PostgreSQL server: the same scenario as on SQLite (nothing in them may be SQLite-only)."""

from __future__ import annotations

import io
import json

import pytest

pytest.importorskip("psycopg", reason="the psycopg driver is not installed")

from test_review_audit2_text_labels import check_labels_by_text, save, sha
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401  (fixtures)

from longbert.store import Store


def test_labels_by_text_on_postgresql(pg_url: str) -> None:  # noqa: F811
    check_labels_by_text(Store(pg_url))


def test_texts_in_chunks_and_a_conflict_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    store.add_correction(save(store, 0, "model-x"), "true")
    store.add_correction(save(store, 0, "model-y"), "false")
    store.add_correction(save(store, 1, "model-y"), "false")
    many = [sha(0), sha(1)] + [f"{i:064x}" for i in range(1200)]  # more than one chunk of 500
    found = store.labels_of_texts(many, ["true", "false"], multi_label=False)
    assert {s: [v.labels for v in votes] for s, votes in found.items()} == {
        sha(0): [("true",), ("false",)],
        sha(1): [("false",)],
    }
    out = io.StringIO()
    with pytest.warns(UserWarning, match="doc-0.txt"):
        count = store.export_label_set_training_set(
            out, ["true", "false"], multi_label=False, conflicts="leave_out"
        )
    assert count == 1 and json.loads(out.getvalue())["id"] == sha(1)
