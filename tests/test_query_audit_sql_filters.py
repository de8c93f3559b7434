"""History's label filter and the filter choices are decided by the database: a page of a
multi-label history reads that page, not every candidate row; the filter choices read a few
distinct values, not every correction (SQLite here; test_query_audit_postgres on PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.store_factories import make_document, make_prediction
from sqlalchemy import event, insert
from sqlalchemy.orm import ORMExecuteState, Session
from test_ml_exports_labels import TAGS, save_single, save_tagged

from longbert.store import HistoryFilter, Store
from longbert.store.history_sql import apply_filters, history_select, label_match
from longbert.store.schema import CorrectionRow, utcnow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    yield store
    store.close()


class RowsRead:
    """Counts the result rows the store's sessions hand to Python (every ``Session.execute``,
    ``scalars`` and ``scalar``), whatever the query: what a page costs grows with this."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, state: ORMExecuteState) -> Any:
        if not state.is_select:
            return None  # writes run as they are
        frozen = state.invoke_statement().freeze()
        self.count += len(frozen.data)
        return frozen()


@pytest.fixture
def rows_read() -> Iterator[RowsRead]:
    counter = RowsRead()
    event.listen(Session, "do_orm_execute", counter)
    yield counter
    event.remove(Session, "do_orm_execute", counter)


def matching_ids(store: Store, filters: HistoryFilter) -> list[int]:
    """The ids the SQL of ``filters`` selects, by itself (what every caller builds on)."""
    statement = apply_filters(history_select(), filters)
    return store._db.read(lambda s: sorted(int(v[0]) for v in s.execute(statement)))


#: Labels JSON escapes (a quote, a backslash, non-ASCII) and one holding ", ".
ODD = ('say "hi"', "a\\b", "café", "y, z")


def check_the_label_filter_in_sql(store: Store) -> None:
    """The label filter's SQL alone selects exactly the matching rows, single- and multi-label
    (shared with test_query_audit_postgres)."""
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    both = save_tagged(store, 1, ["econ", "sport"], minutes=1)
    single = save_single(store, 2, "sport", minutes=2)
    none = save_tagged(store, 3, [], minutes=3)  # top label 'econ', no label chosen
    sport_only = save_tagged(store, 4, ["sport"], minutes=4)
    corrected = save_tagged(store, 5, ["econ"], minutes=5)
    store.add_correction(corrected, ["sport", "politics"])
    emptied = save_tagged(store, 6, ["sport"], minutes=6)
    store.add_correction(emptied, [])  # no label applies: the correction decides
    store.register_model("odd", labels=list(ODD), multi_label=True)
    document = make_document(7)
    odd = store.save_prediction(
        dataclasses.replace(
            make_prediction(document, model="odd", label=ODD[0], labels=ODD),
            probabilities=dict.fromkeys(ODD, 0.7),
            labels=list(ODD[1:]),
        ),
        document,
    )
    expected = {
        ("sport", "final"): [both, single, sport_only, corrected],
        ("sport", "predicted"): [both, single, sport_only, emptied],
        ("sport", "corrected"): [corrected],
        ("econ", "final"): [both],
        ("econ", "predicted"): [both, corrected],
        ("politics", "final"): [corrected],
        (("politics", "econ"), "final"): [both, corrected],
        ((ODD[0],), "predicted"): [],  # its top label, not chosen
        (ODD[1:2], "predicted"): [odd],
        (ODD[2:3], "final"): [odd],
        ("y, z", "final"): [odd],
        ("y", "final"): [],
    }
    for (label, label_of), ids in expected.items():
        filters = HistoryFilter(label=label, label_of=label_of)
        assert matching_ids(store, filters) == sorted(ids), (label, label_of)
        assert store.count_predictions(filters) == len(ids)
        # The Python statement of the rule agrees on every row SQL selects.
        match = label_match(filters)
        assert match is not None
        rows = store._db.read(lambda s, f=filters: list(s.execute(apply_filters(history_select(), f))))
        assert all(match(v[21], v[8], v[20], v[16]) for v in rows)
    assert none not in matching_ids(store, HistoryFilter(label="econ", label_of="final"))
    sport = HistoryFilter(label="sport", label_of="final")
    page = store.history(sport, limit=2, offset=1)  # newest first
    assert page.total == 4 and [r.id for r in page.rows] == [sport_only, single]
    with_others = HistoryFilter(label="sport", label_of="final", corrected=True, model="tags")
    assert [r.id for r in store.history(with_others).rows] == [corrected]
    assert store.filter_options()["label"] == sorted({*TAGS, *ODD})


def test_the_label_filter_is_sql_for_multi_label_rows(store: Store) -> None:
    check_the_label_filter_in_sql(store)


def test_a_page_of_a_multi_label_history_reads_one_page(store: Store, rows_read: RowsRead) -> None:
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    sport = [save_tagged(store, i, ["sport"] if i % 3 else ["econ"], minutes=i) for i in range(1, 61)]
    sport = [pid for i, pid in enumerate(sport, start=1) if i % 3][::-1]  # newest first
    filters = HistoryFilter(label="sport", label_of="final")
    rows_read.count = 0
    page = store.history(filters, limit=5, offset=10)
    assert [r.id for r in page.rows] == sport[10:15] and page.total == len(sport) == 40
    assert rows_read.count <= 5 + 1  # the page and its count, not the 60 candidates
    rows_read.count = 0
    assert store.count_predictions(filters) == 40
    assert rows_read.count == 1


def _many_corrections(store: Store, prediction_id: int, rows: list[dict[str, Any]]) -> None:
    now = utcnow()
    values = [dict(prediction_id=prediction_id, note=None, created_at=now, **row) for row in rows]
    store._db.write(lambda s: s.execute(insert(CorrectionRow), values))


def test_filter_choices_read_distinct_values_not_every_correction(store: Store, rows_read: RowsRead) -> None:
    news = store.save_prediction(make_prediction(make_document(0), model="news", label="true"),
                                 make_document(0))  # fmt: skip
    _many_corrections(store, news, [{"label": "false", "labels": ["false"]}] * 400)
    store.register_model("tags", labels=list(TAGS), multi_label=True)
    tagged = save_tagged(store, 1, ["econ"])
    _many_corrections(store, tagged, [{"label": "econ, sport", "labels": ["econ", "sport"]}] * 400)
    rows_read.count = 0
    assert store.filter_options()["label"] == ["econ", "false", "politics", "sport", "true"]
    assert rows_read.count < 30


def test_filter_choices_are_every_single_label_a_filter_can_match(store: Store) -> None:
    # A multi-label import whose second project has labels its model was not registered with:
    # the labels chosen (not only the top one) and corrected are offered one by one (a label
    # may hold ", ").
    store.register_model("imported", labels=["a", "b"], multi_label=True)
    document = make_document(1)
    prediction = dataclasses.replace(
        make_prediction(document, model="imported", label="x", labels=("x", "y, z", "w")),
        probabilities={"x": 0.9, "y, z": 0.8, "w": 0.1},
        labels=["x", "y, z"],
    )
    pid = store.save_prediction(prediction, document)
    store.add_correction(pid, ["w"])
    options = store.filter_options()["label"]
    assert options == ["a", "b", "w", "x", "y, z"]
    for label in options[2:]:
        assert store.count_predictions(HistoryFilter(label=label, label_of="predicted")) == (label != "w")
    assert store.count_predictions(HistoryFilter(label="w", label_of="final")) == 1


def test_a_database_without_json_list_functions_gets_a_clear_error() -> None:
    from sqlalchemy.dialects import mysql

    from longbert.errors import StoreError

    statement = apply_filters(history_select(), HistoryFilter(label="sport"))
    with pytest.raises(StoreError, match="SQLite or PostgreSQL database, not mysql"):
        statement.compile(dialect=mysql.dialect())
