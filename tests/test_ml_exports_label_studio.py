"""The Label Studio export takes a row's labels from its label lists, never by splitting the
joined display text: a label holding a comma ("Arts, Culture") stays one choice."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.store import Store
from longbert.ui.label_studio import import_label_studio, label_studio_tasks
from longbert.ui.tables import apply_corrections, batch_rows

ARTS = ("Arts, Culture", "Sport")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'ls.sqlite'}")


def choices(result: list[dict[str, Any]]) -> list[list[str]]:
    return [item["value"]["choices"] for item in result]


def tasks_of(store: Store, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["data"]["name"]: t for t in json.loads(label_studio_tasks(store, rows))}


def test_a_single_label_with_a_comma_is_one_choice(store: Store, tmp_path: Path) -> None:
    batch_id = store.create_batch("b", items=["a.txt", "b.txt"])
    for index, label in enumerate(ARTS):
        document = make_document(index, name=f"{'ab'[index]}.txt", source="batch")
        prediction = make_prediction(document, model="arts", label=label, labels=ARTS)
        store.save_prediction(prediction, document, batch_id=batch_id, item_index=index)
    rows = batch_rows(store, batch_id)
    store.add_correction(rows[1]["prediction_id"], "Arts, Culture")
    rows = batch_rows(store, batch_id)
    tasks = tasks_of(store, rows)
    assert choices(tasks["a.txt"]["predictions"][0]["result"]) == [["Arts, Culture"]]
    assert choices(tasks["b.txt"]["predictions"][0]["result"]) == [["Sport"]]
    assert choices(tasks["b.txt"]["annotations"][0]["result"]) == [["Arts, Culture"]]
    # A correction set in the table (not the stored one) is one choice too.
    edited, _ = apply_corrections(rows, {0: {"correction": "Sport"}, 1: {"correction": "Sport"}})
    edited[0]["correction"] = "Arts, Culture"
    tasks = tasks_of(store, edited)
    assert choices(tasks["a.txt"]["annotations"][0]["result"]) == [["Arts, Culture"]]
    assert choices(tasks["b.txt"]["annotations"][0]["result"]) == [["Sport"]]

    # Into another store and back: the label arrives whole.
    out = json.loads(label_studio_tasks(store, rows))
    for number, task in enumerate(out, start=1):
        task["id"] = number
    other = Store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    done = import_label_studio(other, json.dumps(out).encode(), "Arts", multi_label=False)
    assert sorted(other.get_label_set("Arts").labels) == sorted(ARTS) and done.skipped == []
    back = {r.document_name: r for r in other.history().rows}
    assert back["b.txt"].corrected_labels == ["Arts, Culture"]


def test_multi_label_predictions_are_their_chosen_labels(store: Store) -> None:
    store.register_model("tags", labels=["econ", "sport", "politics"], multi_label=True)
    batch_id = store.create_batch("m", items=["m0.txt", "m1.txt"])
    for index, chosen in enumerate([["econ", "sport"], []]):
        document = make_document(index, name=f"m{index}.txt", source="batch")
        prediction = dataclasses.replace(
            make_prediction(document, model="tags", label="econ", labels=("econ", "sport", "politics")),
            probabilities={"econ": 0.45, "sport": 0.6 if chosen else 0.2, "politics": 0.1},
            labels=chosen,
        )
        store.save_prediction(prediction, document, batch_id=batch_id, item_index=index)
    tasks = tasks_of(store, batch_rows(store, batch_id))
    assert choices(tasks["m0.txt"]["predictions"][0]["result"]) == [["econ", "sport"]]
    # The model chose no label: its top sigmoid ('econ', under the threshold) is no choice.
    assert tasks["m1.txt"]["predictions"][0]["result"] == []
