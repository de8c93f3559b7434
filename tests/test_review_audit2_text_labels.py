"""People's labels by text under one label set (:mod:`longbert.store.text_labels`): the label in
force on each prediction of some texts, read with one query per 500 texts whatever the store
holds, and the label set's training set -- every model's corrections with those labels merged,
each text once with its latest label, single- and multi-label models kept apart."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction
from sqlalchemy import event

from longbert.errors import StoreError
from longbert.store import Store

LABELS = ("true", "false")


def save(store: Store, index: int, model: str, label: str = "true", labels: tuple[str, ...] = LABELS) -> int:
    document = make_document(index, words=12)
    prediction = dataclasses.replace(
        make_prediction(document, model=model, label=label, labels=labels, seed=index), attention=None
    )
    return store.save_prediction(prediction, document)


def sha(index: int) -> str:
    return make_document(index, words=12).sha256


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements ``store`` runs inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = store._db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def check_labels_by_text(store: Store) -> None:
    """The scenario both backends run (SQLite here, PostgreSQL in the ``_postgres`` module)."""
    store.register_model("multi", labels=LABELS, multi_label=True)
    x0 = save(store, 0, "model-x")
    store.add_correction(x0, "false")
    second = store.add_correction(x0, "true")  # the latest one is in force
    y0 = save(store, 0, "model-y")
    store.add_correction(y0, "true")
    x1 = save(store, 1, "model-x")
    first = store.add_correction(x1, "true")
    taken_back = store.add_correction(x1, "false")
    store.remove_correction(x1, taken_back)  # the one before it is in force again
    save(store, 2, "model-x")  # no person's label: absent
    topics = save(store, 3, "topics", label="econ", labels=("econ", "sport"))
    store.add_correction(topics, "sport")  # another label set: absent
    multi = save(store, 4, "multi")
    store.add_correction(multi, ["false"])  # a multi-label model's: only when asked for
    x5 = save(store, 5, "model-x")
    store.add_correction(x5, "false")  # a text not asked about

    wanted = [sha(i) for i in range(5)] + ["f" * 64]
    found = store.labels_of_texts(wanted, ["false", "true"], multi_label=False)
    assert set(found) == {sha(0), sha(1)}
    assert [(v.prediction_id, v.correction_id, v.labels) for v in found[sha(0)]] == [
        (x0, second, ("true",)),
        (y0, second + 1, ("true",)),
    ]
    assert [(v.prediction_id, v.correction_id, v.labels) for v in found[sha(1)]] == [(x1, first, ("true",))]
    assert found[sha(1)][0].document_name == "doc-1.txt"
    multi_found = store.labels_of_texts(wanted, LABELS, multi_label=True)
    assert {s: [v.labels for v in votes] for s, votes in multi_found.items()} == {sha(4): [("false",)]}
    assert store.labels_of_texts([], LABELS, multi_label=False) == {}

    # The training set: both models' labels (one text once, its latest), not the multi-label
    # model's, not another label set's -- and no StoreError for the mixed kinds.
    out = io.StringIO()
    assert store.export_label_set_training_set(out, LABELS, multi_label=False) == 3
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {row["id"]: row["label"] for row in rows} == {sha(0): "true", sha(1): "true", sha(5): "false"}
    out = io.StringIO()
    assert store.export_label_set_training_set(out, ["false", "true"], multi_label=True) == 1
    assert json.loads(out.getvalue())["label"] == ["false"]


def test_labels_of_texts_and_the_label_sets_training_set(tmp_path: Path) -> None:
    check_labels_by_text(Store(f"sqlite:///{tmp_path / 'l.sqlite'}"))


def test_a_conflict_between_models_is_left_out_or_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'l.sqlite'}")
    store.add_correction(save(store, 0, "model-x"), "true")
    store.add_correction(save(store, 0, "model-y"), "false")  # the same text, another label
    store.add_correction(save(store, 1, "model-y"), "false")
    with pytest.raises(StoreError, match="conflict"):
        store.export_label_set_training_set(io.StringIO(), LABELS, multi_label=False)
    out = io.StringIO()
    with pytest.warns(UserWarning, match="doc-0.txt"):
        count = store.export_label_set_training_set(out, LABELS, multi_label=False, conflicts="leave_out")
    assert count == 1 and json.loads(out.getvalue())["id"] == sha(1)
    path = tmp_path / "set" / "train.jsonl"
    with pytest.warns(UserWarning):
        assert (
            store.export_label_set_training_set(path, LABELS, multi_label=False, conflicts="leave_out") == 1
        )
    assert json.loads(path.read_text())["label"] == "false"


def test_bad_arguments_say_what_is_wrong(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'l.sqlite'}")
    for labels in ("true", []):
        with pytest.raises(StoreError, match="non-empty list of label names"):
            store.labels_of_texts([sha(0)], labels, multi_label=False)
        with pytest.raises(StoreError, match="non-empty list of label names"):
            store.export_label_set_training_set(io.StringIO(), labels, multi_label=False)
    with pytest.raises(StoreError, match="conflicts must be one of"):
        store.export_label_set_training_set(io.StringIO(), LABELS, multi_label=False, conflicts="pick")
    assert store.export_label_set_training_set(io.StringIO(), LABELS, multi_label=False) == 0


def test_one_query_per_500_texts_however_many_corrections_there_are(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'l.sqlite'}")
    for index in range(1100):  # more corrections than a page of History holds
        store.add_correction(save(store, index, "model-x"), "false")
    with statements(store) as seen:
        found = store.labels_of_texts([sha(3), sha(1099)], LABELS, multi_label=False)
    assert set(found) == {sha(3), sha(1099)}
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
    many = [sha(3)] + [f"{i:064x}" for i in range(1200)]  # 1201 texts: 3 chunks of at most 500
    with statements(store) as seen:
        assert set(store.labels_of_texts(many, LABELS, multi_label=False)) == {sha(3)}
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 3
