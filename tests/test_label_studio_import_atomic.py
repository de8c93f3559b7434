"""A Label Studio task is imported whole or not at all: its text and prediction, each of its
annotations' corrections and the list of annotations imported are one transaction. A failure
midway (a store error, Ctrl-C, the process killed) leaves nothing of that task and every task
before it as imported; importing the file again imports the task, without duplicating anything."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from longbert.bulk.items import text_item
from longbert.errors import StoreError
from longbert.store import RecordNotFoundError, Store
from longbert.text.limits import DEFAULT_LIMITS
from longbert.ui.label_studio import ANNOTATIONS_KEY, IMPORT_SOURCE, TASK_KEY, import_label_studio
from longbert.ui.label_studio_tasks import stored_prediction

NEWS = ["sport", "politik"]
TEXTS = {1: "The keeper saved a penalty.", 2: "The vote is on Sunday.", 3: "The club won the final."}


def _choice(*labels: str) -> dict[str, Any]:
    return {"type": "choices", "value": {"choices": list(labels)}}


def _tasks() -> list[dict[str, Any]]:
    """Three tasks, each pre-annotated; task 2 has two annotations (two corrections)."""
    annotations = {1: [(11, "sport")], 2: [(21, "sport"), (22, "politik")], 3: [(31, "sport")]}
    return [
        {
            "id": task_id,
            "data": {"text": TEXTS[task_id]},
            "predictions": [{"model_version": "news", "score": 0.8, "result": [_choice("sport")]}],
            "annotations": [{"id": a, "result": [_choice(label)]} for a, label in annotations[task_id]],
        }
        for task_id in TEXTS
    ]


def _import(store: Store) -> Any:
    return import_label_studio(store, json.dumps(_tasks()).encode(), "News desk", labels=NEWS)


def _sha256(task_id: int) -> str:
    name = f"label-studio task {task_id}"
    item = text_item(TEXTS[task_id], name, source=IMPORT_SOURCE, limits=DEFAULT_LIMITS)
    return item.document.sha256  # type: ignore[union-attr]


def _stored(store: Store) -> dict[str, tuple[str | None, list[str]]]:
    """Document name → (the correction in force, the annotations listed as imported)."""
    rows = store.history().rows
    extra = {row.id: store.get_prediction(row.id).prediction.extra for row in rows}
    return {row.document_name: (row.corrected_label, extra[row.id][ANNOTATIONS_KEY]) for row in rows}


def _fail_in_task_2(store: Store, monkeypatch: pytest.MonkeyPatch, after: int, error: BaseException) -> None:
    """Make ``Store.add_correction`` raise ``error`` at task 2's correction number ``after + 1``
    (its prediction, and ``after`` corrections, already written in its transaction)."""
    real = Store.add_correction
    task_2: list[int] = []

    def failing(self: Store, prediction_id: int, label: Any, note: str | None = None, **kw: Any) -> int:
        if note and note.startswith("Label Studio task 2,"):
            task_2.append(prediction_id)
            if len(task_2) == after + 1:
                raise error
        return real(self, prediction_id, label, note=note, **kw)

    monkeypatch.setattr(Store, "add_correction", failing)


def _corrections(store: Store) -> int:
    """Every correction row stored (``count_corrections`` counts training lines, one a text)."""
    return sum(len(store.list_corrections(row.id)) for row in store.history().rows)


def _check_task_2_absent(store: Store) -> None:
    assert set(_stored(store)) == {"label-studio task 1", "label-studio task 3"}
    with pytest.raises(RecordNotFoundError):
        store.get_document(_sha256(2))  # not even its text
    assert store.count_predictions() == 2 and _corrections(store) == 2


def _check_reimport_completes(store: Store) -> None:
    again = _import(store)
    assert (again.tasks, again.predictions, again.corrections, again.already_imported) == (1, 1, 2, 2)
    assert again.skipped == []
    assert _stored(store) == {
        "label-studio task 1": ("sport", ["11"]),
        "label-studio task 2": ("politik", ["21", "22"]),  # the latest annotation in force
        "label-studio task 3": ("sport", ["31"]),
    }
    assert store.count_predictions() == 3 and _corrections(store) == 4
    assert _import(store).already_imported == 3  # and nothing twice after that


@pytest.mark.parametrize("after", [0, 1], ids=["before-any-label", "between-two-labels"])
def test_a_store_error_midway_through_a_task_leaves_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'ls.sqlite'}")
    _fail_in_task_2(store, monkeypatch, after, StoreError("disk I/O error"))
    done = _import(store)
    assert done.skipped == [
        "task 2: not stored (disk I/O error); nothing of it was saved: import the file again to add it"
    ]
    # Tasks 1 and 3 counted and stored whole; task 2's prediction and first label, counted in
    # its transaction, are counted no more than they are stored.
    assert (done.tasks, done.predictions, done.corrections) == (2, 2, 2)
    _check_task_2_absent(store)
    monkeypatch.undo()
    _check_reimport_completes(store)


def test_ctrl_c_midway_through_a_task_leaves_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'ls.sqlite'}")
    _fail_in_task_2(store, monkeypatch, 1, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _import(store)
    assert set(_stored(store)) == {"label-studio task 1"}  # the import stopped at task 2
    with pytest.raises(RecordNotFoundError):
        store.get_document(_sha256(2))
    monkeypatch.undo()
    again = _import(store)
    assert (again.tasks, again.corrections, again.already_imported) == (2, 3, 1)
    assert _stored(store)["label-studio task 2"] == ("politik", ["21", "22"])


def _killed_import(url: str) -> None:
    """Import with the process killed (no clean-up, no rollback) right after task 2's first
    correction is written."""
    real = Store.add_correction

    def then_die(self: Store, prediction_id: int, label: Any, note: str | None = None, **kw: Any) -> int:
        written = real(self, prediction_id, label, note=note, **kw)
        if note and note.startswith("Label Studio task 2,"):
            os._exit(3)
        return written

    Store.add_correction = then_die  # type: ignore[method-assign]
    _import(Store(url))
    os._exit(0)


def test_a_process_killed_midway_through_a_task_leaves_nothing_of_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ls.sqlite'}"
    Store(url).save_label_set("News desk", NEWS)
    child = multiprocessing.get_context("spawn").Process(target=_killed_import, args=(url,))
    child.start()
    child.join(120)
    assert child.exitcode == 3
    store = Store(url)
    assert set(_stored(store)) == {"label-studio task 1"}
    with pytest.raises(RecordNotFoundError):
        store.get_document(_sha256(2))
    again = _import(store)
    assert (again.tasks, again.corrections, again.already_imported) == (2, 3, 1)
    assert store.count_predictions() == 3 and _corrections(store) == 4


def test_a_task_an_older_longbert_stored_in_part_is_finished_once(tmp_path: Path) -> None:
    """Before one transaction per task, an import cut short could leave a task's prediction
    with its first annotation's correction only; importing again adds the second, once."""
    store = Store(f"sqlite:///{tmp_path / 'ls.sqlite'}")
    store.save_label_set("News desk", NEWS)
    item = text_item(TEXTS[2], "label-studio task 2", source=IMPORT_SOURCE, limits=DEFAULT_LIMITS)
    document = item.document  # type: ignore[union-attr]
    extra = {TASK_KEY: 2, ANNOTATIONS_KEY: []}
    prediction = stored_prediction(document, "label-studio:news", ["sport"], NEWS, 0.8, False, extra)
    pid = store.save_prediction(prediction, document, label_set="News desk")
    store.add_correction(pid, "sport", note="Label Studio task 2, annotation 21")
    done = _import(store)
    assert (done.tasks, done.predictions, done.corrections, done.skipped) == (3, 2, 3, [])
    assert _stored(store)["label-studio task 2"] == ("politik", ["22"])
    assert [c.note for c in store.list_corrections(pid)] == [
        "Label Studio task 2, annotation 21",
        "Label Studio task 2, annotation 22",
    ]
    assert _import(store).already_imported == 3
