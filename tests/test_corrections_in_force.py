"""A person's label is never overruled from an out-of-date view: corrections saved or taken back
only while the correction in force is the one the page showed (store, Review queue, Batch label
grid), "—" takes back only the correction in force, and a multi-label "no label applies"
correction counts as a correction everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.store import CorrectionChangedError, HistoryFilter, RecordNotFoundError, Store
from longbert.store.queries import NO_LABEL
from longbert.ui.corrections import out_of_step, save_corrections, unconfirmed
from longbert.ui.review import ACCEPT_NOTE, ANSWER_NOTE, ReviewError
from longbert.ui.review_source import build_queue
from longbert.ui.tables import NO_CORRECTION, batch_rows, export_rows, final_label


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'in_force.sqlite'}")


@pytest.fixture
def batch(store: Store) -> int:
    """A batch of two predictions of model hp, both 'true'."""
    batch_id = store.create_batch("b", items=["a.txt", "b.txt"])
    for position, name in enumerate(["a.txt", "b.txt"]):
        document = make_document(position, name=name, source="batch")
        store.save_prediction(make_prediction(document), document, batch_id=batch_id, item_index=position)
    return batch_id


def labels_of(store: Store, prediction_id: int) -> list[str]:
    return [c.label for c in store.list_corrections(prediction_id)]


def test_a_correction_is_saved_only_over_the_one_the_caller_saw(store: Store, batch: int) -> None:
    pid = batch_rows(store, batch)[0]["prediction_id"]
    first = store.add_correction(pid, "false", in_force=None)  # nothing was in force: saved
    assert store.history().rows[-1].correction_id == first
    with pytest.raises(CorrectionChangedError, match=r"labelled 'false'.*nothing was saved"):
        store.add_correction(pid, "true", in_force=None)  # drawn before 'false' was saved
    second = store.add_correction(pid, "true", in_force=first)
    with pytest.raises(CorrectionChangedError):
        store.add_correction(pid, "false", in_force=first)  # 'first' is no longer in force
    assert labels_of(store, pid) == ["false", "true"]
    store.add_correction(pid, "false")  # unchecked (scripts, imports): saved over anything
    assert labels_of(store, pid) == ["false", "true", "false"]
    assert second in [c.id for c in store.list_corrections(pid)]


def test_taking_back_only_the_correction_in_force(store: Store, batch: int) -> None:
    pid = batch_rows(store, batch)[0]["prediction_id"]
    mine = store.add_correction(pid, "false")
    theirs = store.add_correction(pid, "true")
    with pytest.raises(CorrectionChangedError, match="labelled 'true'"):
        store.remove_correction(pid, mine, only_if_in_force=True)
    assert labels_of(store, pid) == ["false", "true"]  # nothing taken back
    assert store.remove_correction(pid, theirs, only_if_in_force=True) == 1
    assert labels_of(store, pid) == ["false"]  # the one before it is in force again
    with pytest.raises(CorrectionChangedError, match="taken back elsewhere"):
        store.add_correction(pid, "true", in_force=theirs)
    with pytest.raises(CorrectionChangedError):
        store.remove_correction(pid, theirs, only_if_in_force=True)  # gone already
    with pytest.raises(RecordNotFoundError):
        store.remove_correction(pid, theirs)  # the plain call: no such correction


def test_the_grid_takes_back_only_the_latest_correction(store: Store, batch: int) -> None:
    pid = batch_rows(store, batch)[0]["prediction_id"]
    store.add_correction(pid, "false", note=ANSWER_NOTE)  # a reviewer's answer
    rows = batch_rows(store, batch)
    mis_click = save_corrections(store, rows, {0: {"correction": "true"}})  # the analyst's slip
    assert mis_click.saved == 1 and labels_of(store, pid) == ["false", "true"]
    undone = save_corrections(store, batch_rows(store, batch), {0: {"correction": NO_CORRECTION}})
    assert undone.removed == ["a.txt"]
    assert labels_of(store, pid) == ["false"]  # the reviewer's label stands again
    assert batch_rows(store, batch)[0]["correction"] == "false"


def test_an_edit_on_an_out_of_date_grid_is_refused_and_named(store: Store, batch: int) -> None:
    rows = batch_rows(store, batch)
    shown = {i: r.get("correction_id") for i, r in enumerate(rows)}  # what the person saw
    pid = rows[0]["prediction_id"]
    store.add_correction(pid, "false", note="Review page")  # meanwhile, elsewhere
    store.add_correction(rows[1]["prediction_id"], "false", note="Review page")
    edits = {0: {"correction": "true"}, 1: {"correction": NO_CORRECTION}}
    outcome = save_corrections(store, batch_rows(store, batch), edits, {}, shown)
    assert (outcome.saved, outcome.removed) == (0, [])
    assert [name for name, _ in outcome.refused] == ["a.txt", "b.txt"]
    assert "labelled 'false' (Review page)" in outcome.refused[0][1]
    assert labels_of(store, pid) == ["false"] and labels_of(store, rows[1]["prediction_id"]) == ["false"]
    # Drawn again, the grid shows what is in force, and the same edit is then a person's choice.
    fresh = batch_rows(store, batch)
    shown = {i: r.get("correction_id") for i, r in enumerate(fresh)}
    again = save_corrections(store, fresh, {0: {"correction": "true"}}, {}, shown)
    assert again.saved == 1 and labels_of(store, pid) == ["false", "true"]


def test_an_out_of_date_review_queue_never_overrules_another_reviewer(store: Store, batch: int) -> None:
    source = HistoryFilter(batch_id=batch)
    first, second = build_queue(store, source), build_queue(store, source)
    pid = first.order[0]
    second.answer(store, "false", prediction_id=pid)
    with pytest.raises(ReviewError, match="labelled 'false'"):
        first.accept(store, prediction_id=pid)  # Enter on the out-of-date queue
    assert [(c.label, c.note) for c in store.list_corrections(pid)] == [("false", ANSWER_NOTE)]
    assert first.reviewed[pid] == "false"  # the queue now shows what is in force
    answer = first.answer(store, "true", prediction_id=pid)  # answered again, knowing it
    assert labels_of(store, pid) == ["false", "true"] and answer.label == "true"
    first.accept(store, prediction_id=pid)  # its own answer is in force: saved
    assert [c.note for c in store.list_corrections(pid)][-1] == ACCEPT_NOTE


def test_undo_of_an_answer_taken_back_elsewhere_says_so(store: Store, batch: int) -> None:
    queue = build_queue(store, HistoryFilter(batch_id=batch))
    pid = queue.order[0]
    answer = queue.answer(store, "false", prediction_id=pid)
    store.remove_correction(pid, answer.correction_id)  # e.g. "—" in the Batch label grid
    with pytest.raises(ReviewError, match="already taken back elsewhere"):
        queue.undo(store)
    assert queue.answers == [] and pid not in queue.reviewed and pid not in queue.in_force
    answer = queue.answer(store, "false", prediction_id=pid)
    later = store.add_correction(pid, "true", note="someone else")
    assert queue.undo(store) == answer  # its own correction goes; the later label stays
    assert queue.reviewed[pid] == "true" and queue.in_force[pid] == later


def test_a_no_label_correction_is_a_correction_everywhere(store: Store) -> None:
    store.register_model("tags", labels=["x", "y"], multi_label=True)
    batch_id = store.create_batch("m", items=["m.txt"])
    document = make_document(7, name="m.txt", source="batch")
    prediction = make_prediction(document, model="tags", label="x", labels=("x", "y"))
    pid = store.save_prediction(prediction, document, batch_id=batch_id, item_index=0)
    store.add_correction(pid, [])  # a person: no label applies
    (row,) = batch_rows(store, batch_id)
    assert row["correction"] == "" and final_label(row) == ""
    assert export_rows([row])[0]["final_label"] == ""
    assert unconfirmed([row]) == []  # confirming it again would be refused as corrected
    counts = store.label_distribution(use_corrections=True)
    assert [c.label for c in counts] == [NO_LABEL]


def test_a_grid_whose_edited_cell_no_longer_shows_the_label_in_force_is_out_of_step(
    store: Store, batch: int
) -> None:
    rows = batch_rows(store, batch)
    applied: dict[int, object] = {}
    save_corrections(store, rows, {0: {"correction": "false"}}, applied)
    assert out_of_step(batch_rows(store, batch), applied) == []  # the cell shows what is in force
    store.add_correction(rows[0]["prediction_id"], "true", note="elsewhere")
    assert out_of_step(batch_rows(store, batch), applied) == [0]  # the cell still shows 'false'
    # Taking back this grid's own correction puts the one before it in force again.
    pid = rows[1]["prediction_id"]
    store.add_correction(pid, "false", note=ANSWER_NOTE)
    fresh = batch_rows(store, batch)
    mine: dict[int, object] = {}
    save_corrections(store, fresh, {1: {"correction": "true"}}, mine)
    save_corrections(store, batch_rows(store, batch), {1: {"correction": NO_CORRECTION}}, mine)
    assert labels_of(store, pid) == ["false"] and out_of_step(batch_rows(store, batch), mine) == [1]
