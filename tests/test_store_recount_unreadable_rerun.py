"""Schema v8's recount of old command-line batches keeps an input's labelled item over a later
error: the first releases appended an error item when a labelled input could not be read any
more (today's code keeps the earlier row of such an input and sends no error). Superseding the
labelled item instead took its prediction -- and the correction a person made of it -- out of
the batch and made the input an error. The output's ledger of those releases keeps the same row
(:func:`longbert.bulk.rows.latest_rows`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from helpers.store_v1 import WHEN, insert_old_prediction, insert_row, make_v3_database

from longbert.bulk.rows import DoneInputs, latest_rows, name_key
from longbert.store import SCHEMA_VERSION, HistoryFilter, Store

CLI = json.dumps({"cli": {"output": "labels.csv", "engine": "local"}, "model": "zero-shot"})


def _old_batch(path: Path, items: list[tuple[str, str]]) -> tuple[int, dict[int, int]]:
    """A v3 database with a command-line batch of ``(name, status)`` items as the first release
    recorded them (every result appended, each counted); returns the batch and position →
    prediction id of its done items."""
    make_v3_database(path)
    engine = sa.create_engine(f"sqlite:///{path}")
    predictions: dict[int, int] = {}
    with engine.begin() as connection:
        done = sum(status == "done" for _, status in items)
        insert_row(
            connection, "batches", name="predict → labels.csv", status="done", total=len(items),
            done_count=done, error_count=len(items) - done, config=CLI, created_at=WHEN,
            updated_at=WHEN, finished_at=WHEN,
        )  # fmt: skip
        batch_id = int(connection.execute(sa.text("SELECT max(id) FROM batches")).scalar_one())
        for position, (name, status) in enumerate(items):
            if status == "done":
                predictions[position] = insert_old_prediction(connection, batch_id, 100 + position, name)
            insert_row(
                connection, "batch_items", batch_id=batch_id, position=position, name=name,
                status=status, error="it cannot be read" if status == "error" else None,
                prediction_id=predictions.get(position), updated_at=WHEN,
            )  # fmt: skip
        if predictions:
            insert_row(
                connection, "corrections", prediction_id=predictions[0], label="false",
                labels='["false"]', created_at=WHEN, note="a person read x.txt",
            )  # fmt: skip
    engine.dispose()
    return batch_id, predictions


def test_a_labelled_and_corrected_input_unreadable_later_keeps_its_item_after_the_recount(
    tmp_path: Path,
) -> None:
    # Run 1: x.txt and y.txt labelled (x.txt then corrected by a person); run 2: x.txt unreadable.
    path = tmp_path / "old.sqlite"
    batch_id, predictions = _old_batch(path, [("x.txt", "done"), ("y.txt", "done"), ("x.txt", "error")])
    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION

    batch = store.get_batch(batch_id)
    assert (batch.total, batch.done, batch.errors) == (2, 2, 0)  # was 3, 2, 1
    every = store.batch_items(batch_id, include_superseded=True)
    assert [(i.name, i.status) for i in every] == [
        ("x.txt", "done"),
        ("y.txt", "done"),
        ("x.txt", "superseded"),
    ]
    kept = store.get_prediction(predictions[0])
    assert kept.batch_id == batch_id  # the prediction stays in the batch...
    assert [c.note for c in kept.corrections] == ["a person read x.txt"]  # ...with its correction
    shown = store.history(HistoryFilter(batch_id=batch_id)).rows
    assert sorted(r.document_name for r in shown) == ["x.txt", "y.txt"]


def test_each_name_keeps_its_last_labelled_item_else_its_last_error(tmp_path: Path) -> None:
    items = [
        ("a", "done"), ("a", "error"), ("a", "error"),  # labelled, then unreadable twice: 0 stays
        ("b", "error"), ("b", "done"), ("b", "error"),  # fixed, then unreadable again: 4 stays
        ("c", "done"), ("c", "done"), ("c", "error"),  # labelled twice (text changed): 7 stays
        ("d", "error"), ("d", "error"),  # never labelled: its last error, 10, stays
        ("e", "done"), ("e", "error"), ("e", "done"),  # readable again: its last result, 13
    ]  # fmt: skip
    path = tmp_path / "old.sqlite"
    batch_id, predictions = _old_batch(path, items)
    store = Store(f"sqlite:///{path}")
    statuses = [i.status for i in store.batch_items(batch_id, include_superseded=True)]
    stays = {0, 4, 7, 10, 13}
    assert [p for p, s in enumerate(statuses) if s != "superseded"] == sorted(stays)
    batch = store.get_batch(batch_id)
    assert (batch.total, batch.done, batch.errors) == (5, 4, 1)
    in_batch = {p for p, prediction in predictions.items() if store.get_prediction(prediction).batch_id}
    assert in_batch == stays - {10}

    # The ledger of that release keeps the same rows (its rows format 1: "legacy" rows).
    names = np.asarray([name_key(name) for name, _ in items], dtype=np.int64)
    labelled = np.asarray([status == "done" for _, status in items], dtype=bool)
    assert set(np.flatnonzero(latest_rows(names, labelled, legacy=len(items)))) == stays
    # Today's rows (not legacy): each input's last row, as today's store supersedes.
    assert set(np.flatnonzero(latest_rows(names, labelled))) == {2, 5, 8, 10, 13}
    # Rows appended after the legacy ones replace them as usual: b's error at 14 wins.
    more = np.concatenate([names, [name_key("b")]])
    flags = np.concatenate([labelled, [False]])
    assert set(np.flatnonzero(latest_rows(more, flags, legacy=len(items)))) == (stays - {4}) | {14}
    done = DoneInputs.of_rows(np.arange(len(items), dtype=np.int64), names, labelled, legacy=len(items))
    assert sorted(done.keys.tolist()) == sorted(stays) and done.has_error("d") and not done.has_error("a")
