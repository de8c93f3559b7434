"""Importing a Label Studio export loses nothing already saved: a label set keeps its zero-shot
descriptions, each task's text is read as an upload is (or skipped with its reason), multi-choice
annotations keep every label, and importing a file again adds nothing twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from longbert.errors import StoreError
from longbert.readers import read_bytes
from longbert.store import HistoryFilter, Store
from longbert.ui.label_studio import import_label_studio

NEWS = {"sport": "matches, teams, leagues, athletes", "politik": "elections, parliament, parties"}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'ls.sqlite'}")


def _task(task_id: int, text: str, *choices: list[str], predicted: list[str] | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": task_id,
        "data": {"text": text},
        "annotations": [{"result": [{"type": "choices", "value": {"choices": c}}]} for c in choices],
    }
    if predicted is not None:
        task["predictions"] = [
            {
                "model_version": "news",
                "score": 0.8,
                "result": [{"type": "choices", "value": {"choices": predicted}}],
            }
        ]
    return task


def _import(store: Store, tasks: list[dict[str, Any]], name: str = "News desk", **options: Any) -> Any:
    return import_label_studio(store, json.dumps(tasks).encode(), name, **options)


def test_an_existing_label_set_keeps_its_descriptions_and_gains_only_new_labels(store: Store) -> None:
    store.save_label_set("News desk", NEWS)
    done = _import(store, [_task(1, "The keeper saved a penalty.", ["sport"])])
    assert store.get_label_set("News desk").descriptions == NEWS
    assert done.added_labels == [] and not done.new_label_set and done.corrections == 1
    done = _import(store, [_task(2, "Rain all weekend.", ["wetter"])])
    assert done.added_labels == ["wetter"]
    assert store.get_label_set("News desk").descriptions == {**NEWS, "wetter": "wetter"}
    assert store.get_label_set("News desk").labels == ["sport", "politik", "wetter"]
    done = _import(store, [_task(1, "Snow.", ["sport"])], name="Fresh", labels=["sport", "snow"])
    assert done.new_label_set and done.added_labels == ["sport", "snow"]


def test_a_task_that_cannot_be_a_document_is_skipped_and_a_fixed_file_imports_the_rest_once(
    store: Store,
) -> None:
    tasks = [
        _task(1, "The keeper saved a penalty.", ["sport"], predicted=["sport"]),
        _task(2, "Broken \ud800 text", ["politik"]),
        _task(3, "The vote is on Sunday.", ["politik"]),
    ]
    done = _import(store, tasks, labels=list(NEWS))
    assert (done.tasks, done.predictions, done.corrections) == (2, 2, 2)
    assert len(done.skipped) == 1 and done.skipped[0].startswith("task 2: text is not valid Unicode")
    tasks[1]["data"]["text"] = "Broken text, mended."
    done = _import(store, tasks, labels=list(NEWS))
    assert (done.tasks, done.predictions, done.corrections, done.already_imported) == (1, 1, 1, 2)
    assert done.skipped == []
    assert store.count_predictions() == 3 and store.count_corrections() == 3
    again = _import(store, tasks, labels=list(NEWS))
    assert (again.tasks, again.predictions, again.corrections, again.already_imported) == (0, 0, 0, 3)


def test_task_text_is_read_as_an_upload_of_the_same_text(store: Store) -> None:
    raw = "  Line one of the report.\r\nLine two.\r\n\r\n"
    _import(store, [_task(1, raw, ["sport"])], labels=list(NEWS))
    (uploaded,) = list(read_bytes("report.txt", raw.encode()))
    (row,) = store.history().rows
    assert row.document_sha256 == uploaded.document.sha256
    assert store.get_document(row.document_sha256).text == "Line one of the report.\nLine two."
    done = _import(store, [_task(2, "  \n ", ["sport"]), _task(3, "x " * 3_000_000, ["sport"])])
    assert done.skipped[0] == "task 2: no text" and "characters, more than" in done.skipped[1]


def test_several_choices_are_kept_in_a_multi_label_set_and_refused_in_a_single_label_one(
    store: Store,
) -> None:
    both = [
        _task(1, "The minister opened the stadium.", ["sport", "politik"], predicted=["sport", "politik"]),
        _task(2, "The keeper saved a penalty.", ["sport"]),
    ]
    done = _import(store, both, name="Tags")  # a new set, a file with several choices: multi-label
    assert done.multi_label and done.skipped == [] and (done.tasks, done.corrections) == (2, 2)
    rows = {r.document_name: r for r in store.history().rows}
    assert rows["label-studio task 1"].corrected_labels == ["sport", "politik"]
    assert rows["label-studio task 1"].labels == ["sport", "politik"]
    assert store.get_model(rows["label-studio task 2"].model_name).multi_label
    assert store.count_corrections(labels=["sport", "politik"]) == 2

    store.save_label_set("News desk", NEWS)
    _import(store, [_task(5, "The keeper saved a penalty.", ["sport"])])  # single-label so far
    done = _import(store, both)
    assert not done.multi_label and done.tasks == 1
    assert done.skipped == [
        "task 1: several labels (sport, politik) in the single-label set 'News desk'; "
        "keep one label per text, or import it as multi-label"
    ]
    single = store.history(HistoryFilter(label_set="News desk")).rows
    assert {r.corrected_label for r in single} == {"sport"}


def test_an_import_cut_short_is_finished_by_importing_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = [_task(1, "The keeper saved a penalty.", ["politik"], ["sport"], predicted=["sport"])]
    real = store.add_correction
    calls: list[int] = []

    def flaky(prediction_id: int, label: Any, note: str | None = None) -> int:
        calls.append(prediction_id)
        if len(calls) == 2:
            raise StoreError("database is locked")
        return real(prediction_id, label, note=note)

    monkeypatch.setattr(store, "add_correction", flaky)
    done = _import(store, tasks, labels=list(NEWS))
    assert done.skipped == [
        "task 1: stored only in part (database is locked); import the file again to finish it"
    ]
    assert (done.predictions, done.corrections) == (1, 1)
    done = _import(store, tasks, labels=list(NEWS))
    assert (done.tasks, done.predictions, done.corrections, done.skipped) == (1, 0, 1, [])
    (row,) = store.history().rows
    assert row.corrected_label == "sport" and store.count_predictions() == 1  # the latest in force
