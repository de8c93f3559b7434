"""History filters, label distribution and exports, on a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from store_factories import make_document, make_prediction

from longbert.document import Document
from longbert.errors import StoreError
from longbert.store import EXPORT_COLUMNS, HistoryFilter, LabelCount, Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "q.sqlite"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{db_path}")
    yield store
    store.close()


def set_time(db_path: Path, prediction_id: int, when: str) -> None:
    """Backdate a prediction (stored as naive UTC text, as SQLAlchemy writes DATETIME)."""
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE predictions SET created_at = ? WHERE id = ?", (when, prediction_id))


@pytest.fixture
def filled(store: Store, db_path: Path) -> dict[str, int]:
    """Five predictions over three days, two models, two strategies, one batch, one correction."""
    batch_id = store.create_batch("b", total=2)
    ids: dict[str, int] = {}
    specs = [
        ("a", "m1", "true", "truncate", None, "2026-01-01 10:00:00.000000"),
        ("b", "m1", "false", "chunk", batch_id, "2026-01-01 23:59:59.000000"),
        ("c", "m2", "true", "chunk", batch_id, "2026-01-02 00:00:00.000000"),
        ("d", "m2", "true", "truncate", None, "2026-01-03 08:00:00.000000"),
        ("e", "m1", "false", "key_sentences", None, "2026-01-03 09:00:00.000000"),
    ]
    for i, (key, model, label, strategy, batch, when) in enumerate(specs):
        document = make_document(100 + i, name=f"{key}_Report.txt")
        if key == "d":
            document = Document(text="The 50% SENATE_vote was contested.", name="d_note.txt", source="paste")
        prediction = make_prediction(document, model=model, label=label, strategy=strategy, seed=i)
        ids[key] = store.save_prediction(prediction, document, batch_id=batch)
        set_time(db_path, ids[key], when)
    store.add_correction(ids["a"], "false", note="wrong")
    ids["batch"] = batch_id
    return ids


def names(store: Store, filters: HistoryFilter | None = None) -> list[str]:
    return [row.document_name[0] for row in store.history(filters, limit=100).rows]


def test_history_is_newest_first_with_pagination(store: Store, filled: dict[str, int]) -> None:
    assert names(store) == ["e", "d", "c", "b", "a"]
    page = store.history(limit=2, offset=2)
    assert page.total == 5 and [r.document_name[0] for r in page.rows] == ["c", "b"]
    row = store.history(HistoryFilter(corrected=True)).rows[0]
    assert (row.document_name, row.label, row.corrected_label) == ("a_Report.txt", "true", "false")
    assert row.created_at == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert 0.5 <= row.confidence <= 1 and row.model_name == "m1" and row.source == "upload"
    with pytest.raises(ValueError):
        store.history(limit=-1)


def test_history_filters(store: Store, filled: dict[str, int]) -> None:
    assert names(store, HistoryFilter(model="m2")) == ["d", "c"]
    assert names(store, HistoryFilter(label="false")) == ["e", "b"]
    assert names(store, HistoryFilter(strategy=["chunk", "key_sentences"])) == ["e", "c", "b"]
    assert names(store, HistoryFilter(batch_id=filled["batch"])) == ["c", "b"]
    assert names(store, HistoryFilter(source="paste")) == ["d"]
    assert names(store, HistoryFilter(corrected=False)) == ["e", "d", "c", "b"]
    assert names(store, HistoryFilter(zero_shot=False)) == ["e", "d", "c", "b", "a"]
    assert names(store, HistoryFilter(model="m1", label="false", strategy="chunk")) == ["b"]
    assert store.count_predictions(HistoryFilter(model="m1")) == 3


def test_history_date_filters_cover_whole_days(store: Store, filled: dict[str, int]) -> None:
    assert names(store, HistoryFilter(since=date(2026, 1, 2))) == ["e", "d", "c"]
    assert names(store, HistoryFilter(until=date(2026, 1, 1))) == ["b", "a"]
    one_day = HistoryFilter(since=date(2026, 1, 3), until=date(2026, 1, 3))
    assert names(store, one_day) == ["e", "d"]
    exact = HistoryFilter(since=datetime(2026, 1, 1, 12), until=datetime(2026, 1, 2, tzinfo=UTC))
    assert names(store, exact) == ["c", "b"]


def test_history_text_search_is_case_insensitive_and_literal(store: Store, filled: dict[str, int]) -> None:
    assert names(store, HistoryFilter(text="senate_VOTE")) == ["d"]  # in the text
    assert names(store, HistoryFilter(text="50%")) == ["d"]  # % and _ are literal
    assert names(store, HistoryFilter(text="%")) == ["d"]
    assert names(store, HistoryFilter(text="_")) == ["e", "d", "c", "b", "a"]  # every file name
    assert names(store, HistoryFilter(text="b_report")) == ["b"]  # in the name
    assert names(store, HistoryFilter(text="no such words")) == []


def test_label_distribution_per_day(store: Store, filled: dict[str, int]) -> None:
    assert store.label_distribution() == [
        LabelCount(date(2026, 1, 1), "false", 1),
        LabelCount(date(2026, 1, 1), "true", 1),
        LabelCount(date(2026, 1, 2), "true", 1),
        LabelCount(date(2026, 1, 3), "false", 1),
        LabelCount(date(2026, 1, 3), "true", 1),
    ]
    corrected = store.label_distribution(HistoryFilter(until=date(2026, 1, 1)), use_corrections=True)
    assert corrected == [LabelCount(date(2026, 1, 1), "false", 2)]
    assert store.label_distribution(HistoryFilter(model="m2")) == [
        LabelCount(date(2026, 1, 2), "true", 1),
        LabelCount(date(2026, 1, 3), "true", 1),
    ]


def test_filter_options(store: Store, filled: dict[str, int]) -> None:
    options = store.filter_options()
    assert options["model"] == ["m1", "m2"] and options["label"] == ["false", "true"]
    assert options["strategy"] == ["chunk", "key_sentences", "truncate"]
    assert options["source"] == ["paste", "upload"]


def test_export_csv(store: Store, filled: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "out" / "predictions.csv"
    assert store.export_predictions(path, "csv") == 5
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert [r["document_name"][0] for r in rows] == ["a", "b", "c", "d", "e"]  # oldest first
    first = rows[0]
    assert (first["label"], first["corrected_label"], first["final_label"]) == ("true", "false", "false")
    assert first["correction_note"] == "wrong" and json.loads(first["final_labels"]) == ["false"]
    assert set(json.loads(first["probabilities"])) == {"true", "false"}
    assert json.loads(first["strategy_params"])["mode"] == "head"
    assert rows[1]["corrected_label"] == "" and rows[1]["final_label"] == "false"
    assert rows[1]["batch_id"] == str(filled["batch"])


def test_export_jsonl_with_filters_and_text(store: Store, filled: dict[str, int]) -> None:
    buffer = io.StringIO()
    count = store.export_predictions(buffer, "jsonl", HistoryFilter(source="paste"), include_text=True)
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert count == 1 and len(records) == 1
    assert records[0]["text"] == "The 50% SENATE_vote was contested."
    assert records[0]["labels"] == ["true"] and records[0]["corrected_label"] is None
    assert isinstance(records[0]["probabilities"], dict)
    with pytest.raises(StoreError, match="Unknown export format"):
        store.export_predictions(io.StringIO(), "xlsx")


def test_export_corrections_training_set(store: Store, filled: dict[str, int], tmp_path: Path) -> None:
    # Two predictions of one document corrected: the latest correction wins, one line per text.
    document = make_document(100, name="a_Report.txt")
    other = store.save_prediction(make_prediction(document, model="m2"), document)
    store.add_correction(other, "true")
    store.register_model("topics", labels=["x", "y"], multi_label=True)
    multi_document = make_document(200, name="multi.txt")
    multi = make_prediction(multi_document, model="topics", labels=("x", "y"), label="x")
    store.add_correction(store.save_prediction(multi, multi_document), ["x", "y"])

    path = tmp_path / "corrections.jsonl"
    assert store.export_corrections_training_set(path) == 2
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert records[0] == {
        "text": document.text,
        "label": "true",
        "id": document.sha256,
        "name": "a_Report.txt",
    }
    assert records[1]["label"] == ["x", "y"] and records[1]["name"] == "multi.txt"
