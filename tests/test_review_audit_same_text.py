"""One text, one question: the Review queue never asks about a text a person labelled already
under its label set (on another prediction: another batch, or History), and asks about a text
it holds twice once -- the answer is saved on both of its predictions, and undone from both."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.store import HistoryFilter, Store, get_store
from longbert.ui.review import ANSWER_NOTE, SAME_TEXT_NOTE
from longbert.ui.review_source import build_queue

MODEL = "hyperpartisan-v1"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    return get_store()


def _batch(store: Store, indexes: list[int], name: str = "b") -> tuple[int, list[int]]:
    """A batch of the documents ``indexes`` (an index twice: the same text twice)."""
    batch_id = store.create_batch(name, total=len(indexes))
    ids = []
    for index in indexes:
        document = make_document(index)
        prediction = make_prediction(document, model=MODEL, seed=index)
        ids.append(store.save_prediction(prediction, document, batch_id=batch_id))
    return batch_id, ids


def test_a_text_labelled_in_another_batch_is_not_asked_again(store: Store) -> None:
    _, first = _batch(store, [0, 1, 2, 3], "first")
    second_batch, second = _batch(store, [0, 4], "second")  # document 0 uploaded again
    store.add_correction(first[0], "false", note="person")

    queue = build_queue(store, HistoryFilter(batch_id=second_batch))
    assert queue.reviewed[second[0]] == "false"  # the person's label of that text
    assert queue.same_text[second[0]] == first[0]  # ... and where it is from
    assert queue.pending == [second[1]] and queue.current.prediction_id == second[1]
    assert queue.progress() == (1, 1, 2)
    assert store.list_corrections(second[0]) == []  # nothing was written for it

    # Over both batches (one model): the other prediction of the text is not asked either.
    everything = build_queue(store, HistoryFilter(model=MODEL))
    assert second[0] not in everything.pending and everything.reviewed[second[0]] == "false"
    assert everything.same_text == {second[0]: first[0]}
    assert everything.answers_per_label() == {"true": 0, "false": 1}  # one text, counted once

    # Answering it anyway (the person went back to it) saves on it, knowing.
    queue.answer(store, "true", second[0])
    assert [c.label for c in store.list_corrections(second[0])] == ["true"]
    assert second[0] not in queue.same_text
    queue.undo(store)
    assert queue.reviewed[second[0]] == "false" and queue.same_text[second[0]] == first[0]


def test_a_label_under_another_label_set_does_not_count(store: Store) -> None:
    document = make_document(0)
    other = make_prediction(document, model="topics", label="econ", labels=("econ", "sport"))
    elsewhere = store.save_prediction(other, document)
    store.add_correction(elsewhere, "sport")
    batch_id, ids = _batch(store, [0])
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    assert queue.pending == ids and queue.reviewed == {} and queue.same_text == {}


def test_the_same_text_twice_in_a_queue_is_asked_once(store: Store) -> None:
    batch_id, ids = _batch(store, [0, 1, 0])  # document 0 twice
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    first = queue.current.prediction_id if queue.current.prediction_id != ids[1] else ids[0]
    twin = ids[2] if first == ids[0] else ids[0]

    answer = queue.answer(store, "false", first)
    assert answer.copies == ((twin, store.list_corrections(twin)[0].id),)
    assert answer.conflict is None and answer.notes == ()
    (copy,) = store.list_corrections(twin)
    assert (copy.label, copy.note) == ("false", SAME_TEXT_NOTE.format(first))  # History shows why
    assert store.list_corrections(first)[0].note == ANSWER_NOTE
    assert queue.pending == [ids[1]] and queue.current.prediction_id == ids[1]  # asked once

    # Changing the answer on either prediction changes the copy too: the text stays one label.
    queue.answer(store, "true", twin)
    assert [c.label for c in store.list_corrections(first)] == ["false", "true"]

    queue.undo(store)
    queue.undo(store)
    assert store.list_corrections(first) == [] and store.list_corrections(twin) == []
    assert sorted(queue.pending) == sorted(ids) and queue.same_text == {}


def test_a_twin_with_its_own_persons_label_is_never_overruled(store: Store) -> None:
    batch_id, ids = _batch(store, [0, 0])
    store.add_correction(ids[0], "true", note="set in History")
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    assert queue.reviewed == {ids[0]: "true", ids[1]: "true"} and queue.same_text == {ids[1]: ids[0]}
    answer = queue.answer(store, "false", ids[1])  # the person went back to it: a choice
    assert answer.copies == () and answer.conflict is not None  # the conflict is said, not hidden
    assert [c.label for c in store.list_corrections(ids[0])] == ["true"]


def test_a_multi_label_text_labelled_elsewhere_shows_its_set(store: Store) -> None:
    labels = ("econ", "sport", "politics")
    store.register_model("multi", labels=labels, multi_label=True)
    store.register_model("multi-2", labels=labels, multi_label=True)
    document = make_document(0)
    ids = []
    for model in ("multi", "multi-2"):
        prediction = make_prediction(document, model=model, label="econ", labels=labels)
        probabilities = {"econ": 0.9, "sport": 0.7, "politics": 0.1}
        prediction = dataclasses.replace(prediction, probabilities=probabilities, labels=["econ", "sport"])
        ids.append(store.save_prediction(prediction, document))
    store.add_correction(ids[0], [])  # no label applies, said on the first model's prediction
    queue = build_queue(store, HistoryFilter(model="multi-2"))
    assert queue.reviewed == {ids[1]: ()} and queue.same_text == {ids[1]: ids[0]}
    assert queue.pending == []
