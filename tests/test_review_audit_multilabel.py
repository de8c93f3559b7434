"""A multi-label Review queue answers with label *sets*: Accept saves the model's chosen labels
(not its single most probable one), an answer is the set of labels that apply ([] = none), and
the counts behind the retrain caution count each label of a set."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.store import HistoryFilter, Store, get_store
from longbert.ui.review import ACCEPT_NOTE, ANSWER_NOTE, ReviewError
from longbert.ui.review_source import build_queue

MODEL = "zero-shot:multi"
LABELS = ("econ", "sport", "politics")
SOURCE = HistoryFilter(model=MODEL)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    store = get_store()
    store.register_model(MODEL, labels=LABELS, multi_label=True, zero_shot=True)
    return store


def save_multi(store: Store, index: int, probabilities: dict[str, float]) -> int:
    """A multi-label prediction as inference makes it: ``label`` the most probable, ``labels``
    every label at or over 0.5 (maybe none)."""
    document = make_document(index)
    best = max(probabilities, key=lambda k: probabilities[k])
    prediction = make_prediction(document, model=MODEL, label=best, labels=LABELS, zero_shot=True)
    chosen = [label for label in LABELS if probabilities[label] >= 0.5]
    prediction = dataclasses.replace(
        prediction,
        probabilities=probabilities,
        labels=chosen,
        extra={"threshold": 0.5, "below_threshold": not chosen},
    )
    return store.save_prediction(prediction, document, label_set="news")


def test_accept_saves_the_models_whole_label_set(store: Store) -> None:
    both = save_multi(store, 0, {"econ": 0.9, "sport": 0.7, "politics": 0.1})
    none = save_multi(store, 1, {"econ": 0.3, "sport": 0.2, "politics": 0.1})
    queue = build_queue(store, SOURCE)
    assert queue.multi_label
    assert queue.items[both].model_labels == ("econ", "sport")
    assert queue.items[none].model_labels == ()

    accepted = queue.accept(store, both)
    (saved,) = store.list_corrections(both)
    assert (saved.labels, saved.note) == (["econ", "sport"], ACCEPT_NOTE)  # 'sport' is not lost
    assert accepted.labels == ("econ", "sport") and not accepted.changed
    assert queue.reviewed[both] == ("econ", "sport")

    queue.accept(store, none)  # the model chose no label: accepting says "none applies"
    assert store.list_corrections(none)[0].labels == []
    assert queue.progress() == (2, 0, 2)


def test_an_answer_is_the_set_of_labels_that_apply(store: Store) -> None:
    pid = save_multi(store, 0, {"econ": 0.9, "sport": 0.7, "politics": 0.1})
    queue = build_queue(store, SOURCE)
    answer = queue.answer(store, ["politics", "econ", "econ"], pid)
    assert answer.labels == ("econ", "politics") and answer.changed  # queue order, once each
    assert store.list_corrections(pid)[-1].labels == ["econ", "politics"]
    assert store.list_corrections(pid)[-1].note == ANSWER_NOTE
    queue.answer(store, [], pid)
    assert store.list_corrections(pid)[-1].labels == [] and queue.reviewed[pid] == ()
    with pytest.raises(ReviewError, match="multi-label"):
        queue.answer(store, "econ", pid)  # one label alone would drop the others silently
    with pytest.raises(ReviewError, match="not a label"):
        queue.answer(store, ["econ", "weather"], pid)
    assert len(store.list_corrections(pid)) == 2  # nothing more was saved

    # A new session reads the set in force back.
    again = build_queue(store, SOURCE)
    assert again.reviewed[pid] == () and again.progress() == (1, 1, 1)


def test_answers_per_label_count_each_label_of_a_set(store: Store) -> None:
    ids = [save_multi(store, i, {"econ": 0.6, "sport": 0.55, "politics": 0.1}) for i in range(3)]
    queue = build_queue(store, SOURCE)
    queue.answer(store, ["econ", "sport"], ids[0])
    queue.answer(store, ["sport"], ids[1])
    queue.accept(store, ids[2])
    assert queue.answers_per_label() == {"econ": 2, "sport": 3, "politics": 0}
    # A multi-label queue's auto retrain is SetFit (the corrected zero-shot model is
    # single-label only): from a zero-shot start on few answers, it is cautioned.
    caution = queue.retrain_warning()
    assert caution is not None and "fewest answers for one label is 0" in caution


def test_a_rescore_chooses_the_labels_over_the_threshold(store: Store) -> None:
    pid = save_multi(store, 0, {"econ": 0.9, "sport": 0.7, "politics": 0.1})
    queue = build_queue(store, SOURCE)
    queue.apply_scores(list(LABELS), {pid: [0.2, 0.8, 0.6]}, model="review-new")
    assert queue.items[pid].model_labels == ("sport", "politics")
    queue.accept(store, pid)
    assert store.list_corrections(pid)[-1].labels == ["sport", "politics"]


def test_a_single_label_queue_still_takes_one_label(store: Store) -> None:
    document = make_document(9)
    prediction = make_prediction(document, model="single", label="true")
    pid = store.save_prediction(prediction, document)
    queue = build_queue(store, HistoryFilter(model="single"))
    assert not queue.multi_label
    assert queue.answer(store, ["false"], pid).label == "false"  # a one-label list is that label
    with pytest.raises(ReviewError, match="one label"):
        queue.answer(store, ["true", "false"], pid)
    assert queue.accept(store, pid).label == "true"
