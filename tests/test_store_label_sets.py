"""Label sets are saved objects: name, labels in order, descriptions; recorded with each
prediction; old databases upgrade to them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from helpers.store_v1 import make_v3_database

from longbert.store import SCHEMA_VERSION, HistoryFilter, RecordNotFoundError, Store, StoreError
from tests.helpers.store_factories import make_document, make_prediction


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'l.sqlite'}")


def test_label_sets_are_saved_listed_replaced_and_deleted(store: Store) -> None:
    saved = store.save_label_set("News  desk", {"sport": "matches and teams", "politics": ""})
    assert saved.name == "News desk" and saved.labels == ["sport", "politics"]
    assert saved.descriptions == {"sport": "matches and teams", "politics": "politics"}
    assert saved.text == "sport: matches and teams\npolitics: politics"
    store.save_label_set("tags", ["a", "b", "c"])
    assert [s.name for s in store.list_label_sets()] == ["News desk", "tags"]
    replaced = store.save_label_set("tags", ["a", "b"])
    assert replaced.id == store.get_label_set("tags").id and replaced.labels == ["a", "b"]
    for bad in (["only"], "a,b", ["a", "a"], ["a", " "]):
        with pytest.raises(StoreError):
            store.save_label_set("x", bad)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="name"):
        store.save_label_set("  ", ["a", "b"])
    assert store.delete_label_set("tags") and not store.delete_label_set("tags")
    with pytest.raises(RecordNotFoundError, match="no label set called 'tags'"):
        store.get_label_set("tags")


def test_each_prediction_keeps_its_label_set_in_history_and_exports(store: Store) -> None:
    one, two = make_document(1), make_document(2)
    labels = ("sport", "politics")
    first = store.save_prediction(make_prediction(one, model="zero-shot:minilm", labels=labels,
                                                  label="sport"), one, label_set="news")
    tagged = make_prediction(two, model="zero-shot:minilm", labels=("a", "b"), label="a")
    tagged.extra["label_set"] = "letters"
    second = store.save_prediction(tagged, two)
    rows = {r.id: r for r in store.history().rows}
    assert (rows[first].label_set, rows[second].label_set) == ("news", "letters")
    assert set(rows[first].probabilities) == {"sport", "politics"}
    assert [r.id for r in store.history(HistoryFilter(label_set="news")).rows] == [first]
    assert store.filter_options()["label_set"] == ["letters", "news"]
    buffer = io.StringIO()
    store.export_predictions(buffer, "jsonl")
    assert [json.loads(line)["label_set"] for line in buffer.getvalue().splitlines()] == ["news", "letters"]


def test_an_old_database_upgrades_to_label_sets(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    make_v3_database(path)
    store = Store(f"sqlite:///{path}")
    assert store.schema_version == SCHEMA_VERSION >= 5
    assert all(r.label_set is None for r in store.history().rows)  # old rows: not recorded
    store.save_label_set("news", ["sport", "politics"])
    assert [s.name for s in Store(f"sqlite:///{path}").list_label_sets()] == ["news"]
