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
        "task 1: not stored (database is locked); nothing of it was saved: import the file again to add it"
    ]
    assert (done.predictions, done.corrections) == (0, 0)  # one transaction per task: none of it
    assert store.count_predictions() == 0 and store.count_corrections() == 0
    done = _import(store, tasks, labels=list(NEWS))
    assert (done.tasks, done.predictions, done.corrections, done.skipped) == (1, 1, 2, [])
    (row,) = store.history().rows
    assert row.corrected_label == "sport" and store.count_predictions() == 1  # the latest in force


def _choices(*labels: str) -> dict[str, Any]:
    return {"type": "choices", "value": {"choices": list(labels)}}


def _ids(task: dict[str, Any], *ids: int) -> dict[str, Any]:
    for annotation, number in zip(task["annotations"], ids, strict=True):
        annotation["id"] = number
    return task


def test_a_correction_taken_back_in_the_app_is_not_imported_again(store: Store) -> None:
    tasks = [_ids(_task(7, "The keeper saved a penalty.", ["politik"]), 12)]
    done = _import(store, tasks, labels=list(NEWS))
    assert done.corrections == 1
    (row,) = store.history().rows
    assert row.corrected_label == "politik"
    assert [c.note for c in store.list_corrections(row.id)] == ["Label Studio task 7, annotation 12"]
    store.remove_correction(row.id)
    again = _import(store, tasks, labels=list(NEWS))
    assert (again.tasks, again.predictions, again.corrections, again.already_imported) == (0, 0, 0, 1)
    assert store.count_corrections() == 0


def test_a_new_annotation_is_added_whatever_the_app_added_meanwhile(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    _import(store, [task], labels=list(NEWS))
    (row,) = store.history().rows
    store.add_correction(row.id, "politik", note="a person, in the app")  # two corrections now
    task["annotations"].append({"id": 13, "result": [_choices("politik")]})
    done = _import(store, [task], labels=list(NEWS))
    assert (done.tasks, done.predictions, done.corrections, done.already_imported) == (1, 0, 1, 0)
    notes = [c.note for c in store.list_corrections(row.id)]
    assert notes == [
        "Label Studio task 7, annotation 12",
        "a person, in the app",
        "Label Studio task 7, annotation 13",
    ]
    again = _import(store, [task], labels=list(NEWS))
    assert (again.corrections, again.already_imported) == (0, 1)


def test_an_annotation_edited_in_label_studio_comes_in_force_on_the_next_import(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    task["annotations"][0]["updated_at"] = "2026-12-01T10:00:00.000Z"
    _import(store, [task], labels=list(NEWS))
    (row,) = store.history().rows
    assert store.history().rows[0].corrected_label == "sport"
    assert _import(store, [task], labels=list(NEWS)).corrections == 0  # the same version: nothing new
    task["annotations"][0].update({"result": [_choices("politik")], "updated_at": "2026-12-02T09:30:00.000Z"})
    done = _import(store, [task], labels=list(NEWS))
    assert (done.tasks, done.corrections, done.already_imported) == (1, 1, 0)
    assert store.history().rows[0].corrected_label == "politik"
    assert [c.note for c in store.list_corrections(row.id)] == [
        "Label Studio task 7, annotation 12, updated 2026-12-01T10:00:00.000Z",
        "Label Studio task 7, annotation 12, updated 2026-12-02T09:30:00.000Z",
    ]
    in_force = store.history().rows[0].correction_id
    store.remove_correction(row.id, in_force, only_if_in_force=True)  # a person takes the edit back
    assert _import(store, [task], labels=list(NEWS)).corrections == 0
    assert store.history().rows[0].corrected_label == "sport"


def test_an_annotation_an_older_import_knew_by_its_id_alone_is_not_imported_again(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    _import(store, [task], labels=list(NEWS))  # no updated_at: known by its id alone, as before
    task["annotations"][0]["updated_at"] = "2026-12-02T09:30:00.000Z"
    again = _import(store, [task], labels=list(NEWS))
    assert (again.corrections, again.already_imported) == (0, 1)


def test_an_annotation_saved_again_unchanged_does_not_overrule_a_label_set_in_the_app(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    task["annotations"][0]["updated_at"] = "2026-12-01T10:00:00.000Z"
    _import(store, [task], labels=list(NEWS))
    (row,) = store.history().rows
    store.add_correction(row.id, "politik", note="a reviewer, in the app")
    task["annotations"][0]["updated_at"] = "2026-12-03T08:00:00.000Z"  # Update pressed, same answer
    again = _import(store, [task], labels=list(NEWS))
    assert (again.corrections, again.already_imported, again.not_applied) == (0, 1, [])
    assert store.history().rows[0].corrected_label == "politik"


def test_an_edit_in_label_studio_never_overrules_a_label_set_in_the_app_since(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    task["annotations"][0]["updated_at"] = "2026-12-01T10:00:00.000Z"
    _import(store, [task], labels=list(NEWS))
    (row,) = store.history().rows
    store.add_correction(row.id, "politik", note="a reviewer, in the app")
    task["annotations"][0].update({"result": [_choices("politik")], "updated_at": "2026-12-04T08:00:00Z"})
    store.add_correction(row.id, "sport", note="another reviewer, in the app")
    done = _import(store, [task], labels=list(NEWS))
    assert done.corrections == 0 and store.history().rows[0].corrected_label == "sport"
    (reason,) = done.not_applied
    assert reason.startswith("task 7, annotation 12: edited in Label Studio (politik)")
    assert "but a label set in LongBERT is in force there since it was imported" in reason
    assert _import(store, [task], labels=list(NEWS)).not_applied == []  # reported once


def test_an_edit_of_an_annotation_an_older_import_knew_by_its_id_alone_is_reported(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    _import(store, [task], labels=list(NEWS))  # no updated_at: its id alone, as older imports did
    task["annotations"][0].update({"result": [_choices("politik")], "updated_at": "2026-12-04T08:00:00Z"})
    done = _import(store, [task], labels=list(NEWS))
    assert done.corrections == 0 and store.history().rows[0].corrected_label == "sport"
    (reason,) = done.not_applied
    assert "after an older LongBERT imported it without its version" in reason
    assert _import(store, [task], labels=list(NEWS)).not_applied == []  # reported once


def test_an_edit_does_not_bring_back_a_label_taken_back_in_the_app(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"]), 12)
    task["annotations"][0]["updated_at"] = "2026-12-01T10:00:00.000Z"
    _import(store, [task], labels=list(NEWS))
    (row,) = store.history().rows
    store.remove_correction(row.id)  # every correction of the prediction taken back
    task["annotations"][0].update({"result": [_choices("politik")], "updated_at": "2026-12-04T08:00:00Z"})
    done = _import(store, [task], labels=list(NEWS))
    assert done.corrections == 0 and store.history().rows[0].corrected_label is None
    (reason,) = done.not_applied
    assert reason.endswith("but its label was taken back in LongBERT since it was imported")
    assert _import(store, [task], labels=list(NEWS)).not_applied == []


def test_an_edit_refused_for_another_annotation_in_force_names_it(store: Store) -> None:
    task = _ids(_task(7, "The keeper saved a penalty.", ["sport"], ["politik"]), 12, 13)
    for annotation in task["annotations"]:
        annotation["updated_at"] = "2026-12-01T10:00:00.000Z"
    _import(store, [task], labels=list(NEWS))  # 13's answer is in force
    task["annotations"][0].update({"result": [_choices("politik")], "updated_at": "2026-12-04T08:00:00Z"})
    (reason,) = _import(store, [task], labels=list(NEWS)).not_applied
    assert "but Label Studio annotation 13 is in force there since it was imported" in reason


def test_annotations_without_an_id_are_known_by_their_result(store: Store) -> None:
    task = _task(7, "The keeper saved a penalty.", ["sport"])
    _import(store, [task], labels=list(NEWS))
    (row,) = store.history().rows
    (note,) = [c.note for c in store.list_corrections(row.id)]
    assert note is not None and note.startswith("Label Studio task 7, annotation (no id) ")
    store.remove_correction(row.id)
    assert _import(store, [task], labels=list(NEWS)).corrections == 0
    task["annotations"].append({"result": [_choices("politik")]})
    done = _import(store, [task], labels=list(NEWS))
    assert done.corrections == 1 and store.history().rows[0].corrected_label == "politik"


def test_a_task_an_older_version_imported_under_its_raw_text_is_left_as_it_is(store: Store) -> None:
    from longbert.document import Document
    from longbert.ui.label_studio import TASK_KEY
    from longbert.ui.label_studio import import_label_studio as imported_again
    from longbert.ui.label_studio_tasks import stored_prediction

    raw = "  The keeper saved a penalty.\r\n"
    store.save_label_set("News desk", NEWS)
    old = Document(text=raw, name="label-studio task 7", source="import")
    pid = store.save_prediction(
        stored_prediction(old, "label-studio:annotations", ["sport"], list(NEWS), None, False, {TASK_KEY: 7}),
        old,
        label_set="News desk",
    )
    store.add_correction(pid, "sport", note="Label Studio task 7")
    task = _task(7, raw, ["sport"], ["politik"])
    done = imported_again(store, json.dumps([task]).encode(), "News desk")
    assert (done.tasks, done.predictions, done.corrections, done.already_imported) == (0, 0, 0, 1)
    assert done.legacy == 1
    assert store.count_predictions() == 1 and store.count_corrections() == 1


def test_multi_label_corrections_travel_to_label_studio_and_back_as_separate_choices(
    store: Store, tmp_path: Path
) -> None:
    from longbert.ui.label_studio import label_studio_tasks
    from longbert.ui.tables import history_result_row

    tags = ["x", "y", "z"]
    tasks = [_task(1, "first text", ["x"]), _task(2, "second text", ["y", "z"])]
    _import(store, tasks, name="Tags", labels=tags, multi_label=True)
    rows = {r.document_name: r for r in store.history().rows}
    store.add_correction(rows["label-studio task 1"].id, ["x", "y"])
    store.add_correction(rows["label-studio task 2"].id, [])  # no label applies
    out = json.loads(label_studio_tasks(store, [history_result_row(r) for r in store.history().rows]))
    by_name = {t["data"]["name"]: t for t in out}
    assert by_name["label-studio task 1"]["annotations"][0]["result"][0]["value"]["choices"] == ["x", "y"]
    assert by_name["label-studio task 2"]["annotations"] == [{"result": []}]
    for number, task in enumerate(out, start=1):
        task["id"] = number
    other = Store(f"sqlite:///{tmp_path / 'other.sqlite'}")
    other.save_label_set("Tags", tags)
    done = import_label_studio(other, json.dumps(out).encode(), "Tags", multi_label=True)
    assert done.added_labels == [] and done.skipped == []
    back = {r.document_name: r for r in other.history().rows}
    assert back["label-studio task 1"].corrected_labels == ["x", "y"]
    assert back["label-studio task 2"].corrected_labels == []


def test_a_joined_choice_is_never_made_a_label(store: Store) -> None:
    store.save_label_set("Tags", ["x", "y"])
    done = _import(store, [_task(1, "first text", ["x, y"])], name="Tags", multi_label=True)
    assert done.added_labels == [] and done.corrections == 0
    assert done.skipped == [
        "task 1: 'x, y' is several labels joined into one choice (an older LongBERT export); "
        "choose them one by one in Label Studio"
    ]
    assert store.get_label_set("Tags").labels == ["x", "y"]


def test_a_new_annotation_with_a_label_new_to_the_set_lands_on_a_new_prediction(store: Store) -> None:
    task = _ids(_task(1, "Rain all weekend.", ["sport"]), 1)
    _import(store, [task], labels=list(NEWS))
    task["annotations"].append({"id": 2, "result": [_choices("wetter")]})
    done = _import(store, [task, _ids(_task(2, "Snow on Monday.", ["wetter"]), 3)])
    assert done.added_labels == ["wetter"] and done.skipped == []
    assert (done.tasks, done.predictions, done.corrections) == (2, 2, 2)
    latest = max(store.history().rows, key=lambda r: r.id)
    assert latest.document_name == "label-studio task 2"
    rows = [r for r in store.history().rows if r.document_name == "label-studio task 1"]
    assert sorted(r.corrected_label for r in rows) == ["sport", "wetter"]
    again = _import(store, [task])
    assert (again.tasks, again.corrections, again.skipped, again.already_imported) == (0, 0, [], 1)
