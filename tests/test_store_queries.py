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
from helpers.store_factories import make_document, make_prediction

from longbert.document import Document
from longbert.errors import StoreError
from longbert.store import EXPORT_COLUMNS, HistoryFilter, LabelCount, RecordNotFoundError, Store


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


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def correct(store: Store, document: Document, model: str, labels: tuple[str, ...], label: object) -> int:
    prediction = make_prediction(document, model=model, labels=labels, label=labels[0])
    prediction.zero_shot = model.startswith("zero-shot:")
    prediction_id = store.save_prediction(prediction, document)
    store.add_correction(prediction_id, label)  # type: ignore[arg-type]
    return prediction_id


def test_corrections_are_exported_per_model_and_label_set(store: Store, tmp_path: Path) -> None:
    shared, other, third = make_document(1, name="shared.txt"), make_document(2), make_document(3)
    correct(store, shared, "hp", ("true", "false"), "false")
    correct(store, shared, "topics", ("sport", "politics"), "sport")  # the same text, later
    earlier = correct(store, other, "hp", ("true", "false"), "true")
    correct(store, other, "hp", ("true", "false"), "false")  # corrected again: a conflict
    # Zero-shot predictions share the encoder's model name; each labelling has its label set.
    correct(store, other, "zero-shot:minilm", ("sport", "politics"), "politics")
    correct(store, third, "zero-shot:minilm", ("a", "b"), "b")
    store.register_model("tags", labels=["x", "y"], multi_label=True)
    correct(store, third, "tags", ("x", "y"), ["x", "y"])

    sets = store.correction_sets()
    assert [(s.model, s.labels, s.documents, s.corrections) for s in sets] == [
        ("tags", ["x", "y"], 1, 1),
        ("zero-shot:minilm", ["a", "b"], 1, 1),
        ("zero-shot:minilm", ["sport", "politics"], 1, 1),
        ("hp", ["true", "false"], 2, 3),
        ("topics", ["sport", "politics"], 1, 1),
    ]
    assert sets[0].multi_label and not sets[3].multi_label and sets[1].zero_shot and not sets[3].zero_shot
    assert sets[3].title == "corrections made with model hp (2 documents, labels true/false)"
    assert len({s.key for s in sets}) == 5
    assert [s.labels for s in store.correction_sets("zero-shot:minilm")] == [
        ["a", "b"],
        ["sport", "politics"],
    ]

    path = tmp_path / "hp.jsonl"
    # Two people's labels in force for one text: never settled by picking the latest.
    assert sets[3].conflicts == 1
    with pytest.raises(StoreError, match=rf"conflict.*{other.name}.*'true' in #{earlier}"):
        store.export_corrections_training_set(path, model="hp")
    store.remove_correction(earlier)  # a person settles it: the later label stands
    assert store.count_corrections("hp") == store.export_corrections_training_set(path, model="hp") == 2
    assert read_jsonl(path) == [
        {"id": shared.sha256, "name": "shared.txt", "text": shared.text, "label": "false"},
        {"id": other.sha256, "name": other.name, "text": other.text, "label": "false"},
    ]
    assert store.export_corrections_training_set(path, model="tags") == 1
    assert read_jsonl(path)[0]["label"] == ["x", "y"]
    assert store.export_corrections_training_set(path, model="topics") == 1
    assert read_jsonl(path)[0]["label"] == "sport"

    with pytest.raises(StoreError, match=r"model 'zero-shot:minilm' were made with 2 label sets.*a/b"):
        store.export_corrections_training_set(path, model="zero-shot:minilm")
    with pytest.raises(StoreError, match="4 label sets"):
        store.count_corrections()
    buffer = io.StringIO()
    assert store.export_corrections_training_set(buffer, "zero-shot:minilm", ["politics", "sport"]) == 1
    assert [json.loads(line)["label"] for line in buffer.getvalue().splitlines()] == ["politics"]
    # A label set alone gathers every model's corrections with those labels.
    merged = tmp_path / "sport.jsonl"
    assert store.export_corrections_training_set(merged, labels=["sport", "politics"]) == 2
    assert [(r["name"], r["label"]) for r in read_jsonl(merged)] == [
        ("shared.txt", "sport"),
        (other.name, "politics"),
    ]
    assert store.count_corrections("hp", labels=["x"]) == 0

    with pytest.raises(RecordNotFoundError, match="No model called 'nope'"):
        store.count_corrections("nope")
    with pytest.raises(StoreError, match="non-empty list"):
        store.count_corrections("hp", labels="true")
    assert read_jsonl(path)[0]["label"] == "sport"  # failed calls left the last export alone


def test_one_label_set_exports_without_naming_the_model(store: Store, tmp_path: Path) -> None:
    assert store.correction_sets() == [] and store.count_corrections() == 0
    correct(store, make_document(1), "hp", ("true", "false"), "false")
    correct(store, make_document(2), "hp", ("true", "false"), "true")
    assert store.export_corrections_training_set(tmp_path / "c.jsonl") == 2


def test_history_source_is_where_each_prediction_came_from(store: Store) -> None:
    pasted = Document(text="The same text, twice.", name="pasted text", source="paste")
    first = store.save_prediction(make_prediction(pasted), pasted)
    batch_id = store.create_batch("b", items=["report.txt"])
    in_batch = Document(text=pasted.text, name="report.txt", source="batch")
    second = store.save_prediction(make_prediction(in_batch, seed=1), in_batch, batch_id=batch_id)

    rows = {r.id: r for r in store.history().rows}
    assert (rows[first].source, rows[first].document_name) == ("paste", "pasted text")
    assert (rows[second].source, rows[second].document_name) == ("batch", "report.txt")
    assert [r.id for r in store.history(HistoryFilter(source="batch")).rows] == [second]
    assert [r.id for r in store.history(HistoryFilter(source="paste")).rows] == [first]
    assert store.filter_options()["source"] == ["batch", "paste"]
    stored = store.get_prediction(second)
    assert stored.source == "batch" and (stored.document.name, stored.document.source) == (
        "pasted text",
        "paste",
    )
    buffer = io.StringIO()
    store.export_predictions(buffer, "jsonl", HistoryFilter(source="batch"))
    assert [json.loads(line)["source"] for line in buffer.getvalue().splitlines()] == ["batch"]


def test_a_failed_export_leaves_the_previous_file_whole(
    store: Store, filled: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import longbert.data.jsonl
    import longbert.store.export

    folder = tmp_path / "exports"
    folder.mkdir()
    path = folder / "predictions.csv"
    path.write_text("an earlier export\n", encoding="utf-8")
    real = longbert.store.export._export_record
    calls: list[int] = []

    def failing(values: object, include_text: bool) -> dict[str, object]:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(values, include_text)

    monkeypatch.setattr(longbert.store.export, "_export_record", failing)
    with pytest.raises(OSError, match="disk full"):
        store.export_predictions(path, "csv")
    assert path.read_text(encoding="utf-8") == "an earlier export\n"
    assert [p.name for p in folder.iterdir()] == ["predictions.csv"]  # no partial file left
    monkeypatch.setattr(longbert.store.export, "_export_record", real)
    assert store.export_predictions(path, "csv") == 5  # and a good export replaces it
    assert path.read_text(encoding="utf-8").startswith("id,created_at,")

    training = folder / "corrections.jsonl"
    training.write_text("kept\n", encoding="utf-8")
    monkeypatch.setattr(longbert.data.jsonl, "_row", lambda item, multi_label: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        store.export_corrections_training_set(training)
    assert training.read_text(encoding="utf-8") == "kept\n"
    assert sorted(p.name for p in folder.iterdir()) == ["corrections.jsonl", "predictions.csv"]
    with pytest.raises(StoreError, match="is a folder"):
        store.export_predictions(folder, "csv")
