"""History's label filter (SQL membership in a multi-label row's JSON list of labels) and the
filter choices on a real PostgreSQL server (the server fixtures of test_store_postgres: skipped,
saying why, without a server or psycopg)."""

from __future__ import annotations

import sqlalchemy as sa
from test_ml_exports_labels import TAGS, save_tagged
from test_query_audit_sql_filters import (  # noqa: F401 - rows_read is a pytest fixture
    RowsRead,
    check_the_label_filter_in_sql,
    rows_read,
)
from test_store_postgres import pg_admin_url, pg_url  # noqa: F401 - pytest fixtures

from longbert.store import HistoryFilter, Store


def test_the_label_filter_is_sql_on_postgresql(pg_url: str) -> None:  # noqa: F811
    store = Store(pg_url)
    try:
        check_the_label_filter_in_sql(store)
    finally:
        store.close()


def test_a_page_reads_one_page_and_jsonb_columns_work_too(
    pg_url: str,  # noqa: F811
    rows_read: RowsRead,  # noqa: F811
) -> None:
    store = Store(pg_url)
    try:
        store.register_model("tags", labels=list(TAGS), multi_label=True)
        ids = [save_tagged(store, i, ["sport"] if i % 2 else ["econ"], minutes=i) for i in range(1, 31)]
        store.add_correction(ids[0], ["politics"])
        sport = HistoryFilter(label="sport", label_of="final")
        rows_read.count = 0
        page = store.history(sport, limit=4)
        assert page.total == 14 and [r.id for r in page.rows] == ids[::-1][1:9:2]
        assert rows_read.count <= 4 + 1
        # A database whose label columns are JSONB (the schema makes JSON): the same answers.
        engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as connection:
            for table in ("predictions", "corrections"):
                connection.execute(
                    sa.text(f"ALTER TABLE {table} ALTER COLUMN labels TYPE JSONB USING labels::jsonb")
                )
        engine.dispose()
        assert store.count_predictions(sport) == 14
        assert store.count_predictions(HistoryFilter(label="politics", label_of="corrected")) == 1
        assert store.filter_options()["label"] == sorted(TAGS)
    finally:
        store.close()
