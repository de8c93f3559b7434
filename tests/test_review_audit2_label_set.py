"""What the Review queue counts as reviewed is what its retrain trains on: a text a person
labelled on another model's prediction (same text, same label set) counts, and the retrain's
training set holds it (the label set's people's labels, not the queue's model's alone); single-
and multi-label models are kept apart; a text whose labels conflict is counted by neither.
Building a queue reads only the queue's texts' labels, not every corrected prediction."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction
from test_review_audit2_text_labels import statements

from longbert.errors import DatasetError
from longbert.store import HistoryFilter, Store, get_store
from longbert.ui.review import ReviewQueue
from longbert.ui.review_jobs import retrain_config
from longbert.ui.review_source import build_queue, labels_elsewhere

OTHER = "zero-shot:x"
MODEL = "model-y"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("LONGBERT_DB_URL", f"sqlite:///{tmp_path / 'review.sqlite'}")
    monkeypatch.setenv("LONGBERT_MODELS_DIR", str(tmp_path / "models"))
    return get_store()


def save(store: Store, index: int, model: str, batch_id: int | None = None, seed: int = 0) -> int:
    document = make_document(index, words=12)
    prediction = dataclasses.replace(make_prediction(document, model=model, seed=seed), attention=None)
    return store.save_prediction(prediction, document, batch_id=batch_id)


def batch(store: Store, indexes: range, model: str = MODEL) -> tuple[int, list[int]]:
    batch_id = store.create_batch("b", total=0)
    return batch_id, [save(store, i, model, batch_id, seed=100 + i) for i in indexes]


def training_set(store: Store, queue: ReviewQueue, folder: Path) -> tuple[dict[str, object], list[str]]:
    """The retrain's training set (text SHA-256 → label) and its notes."""
    folder.mkdir(exist_ok=True)
    _, notes = retrain_config(store, queue, folder)
    rows = [json.loads(line) for line in (folder / "reviewed.jsonl").read_text().splitlines()]
    return {row["id"]: row["label"] for row in rows}, notes


def assert_counts_agree(
    queue: ReviewQueue, trained: dict[str, object], conflicting: tuple[int, ...] = ()
) -> None:
    """The page's numbers and the retrain's training set come from one rule: each reviewed
    text (but the ``conflicting`` ones) once, with the label the queue shows for it."""
    shown = {
        queue.items[p].document_sha256: value for p, value in queue.reviewed.items() if p not in conflicting
    }
    assert shown == {sha: value if isinstance(value, str) else tuple(value) for sha, value in trained.items()}
    labels = Counter(
        label for value in trained.values() for label in ([value] if isinstance(value, str) else value)
    )
    assert queue.answers_per_label() == {label: labels.get(label, 0) for label in queue.labels}


def test_texts_labelled_on_another_models_predictions_are_what_the_retrain_trains_on(
    store: Store, tmp_path: Path
) -> None:
    for index in range(10):  # a person labelled texts 0-9 on another model's predictions
        store.add_correction(save(store, index, OTHER, seed=index), "false" if index % 2 else "true")
    batch_id, ids = batch(store, range(12))  # the queue's model: the same 10 texts and 2 new ones
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    assert queue.progress_text() == "10 reviewed · 5 changed · 2 to go"
    assert sorted(queue.pending) == ids[10:]
    trained, notes = training_set(store, queue, tmp_path / "work")  # no "Only 0 reviewed"
    assert len(trained) == 10 and notes == []
    assert_counts_agree(queue, trained)

    queue.answer(store, "false", ids[10])  # an answer of the queue's own joins them
    trained, _ = training_set(store, queue, tmp_path / "again")
    assert len(trained) == 11 and trained[make_document(10, words=12).sha256] == "false"
    assert_counts_agree(queue, trained)


def test_single_and_multi_label_models_labels_are_kept_apart(store: Store, tmp_path: Path) -> None:
    store.register_model("multi", labels=("true", "false"), multi_label=True)
    store.add_correction(save(store, 0, "multi"), ["false"])  # a multi-label model's label
    for index in range(1, 5):
        store.add_correction(save(store, index, OTHER), "true")
    batch_id, ids = batch(store, range(5))
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    assert queue.pending == [ids[0]]  # asked: a multi-label set is no single-label answer
    trained, _ = training_set(store, queue, tmp_path / "work")  # no StoreError for the mix
    assert make_document(0, words=12).sha256 not in trained and len(trained) == 4
    assert_counts_agree(queue, trained)

    # And the other way round: a single-label model's label is no multi-label set.
    text_1 = save(store, 1, "multi")
    multi_queue = build_queue(store, HistoryFilter(model="multi"))
    assert multi_queue.multi_label and multi_queue.pending == [text_1]
    assert list(multi_queue.reviewed.values()) == [("false",)]


def test_a_conflict_with_another_models_label_is_said_and_counted_by_neither(
    store: Store, tmp_path: Path
) -> None:
    batch_id, ids = batch(store, range(6))
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    for index, prediction_id in enumerate(ids[1:5], start=1):
        queue.answer(store, "true" if index % 2 else "false", prediction_id)
    store.add_correction(save(store, 0, OTHER), "true")  # meanwhile, elsewhere
    answer = queue.answer(store, "false", ids[0])
    assert answer.conflict is not None and "'true'" in answer.conflict and "'false'" in answer.conflict
    assert queue.progress()[0] == 5
    assert queue.progress_text().endswith("· 1 in conflict (left out of training)")
    trained, notes = training_set(store, queue, tmp_path / "work")
    assert len(trained) == 4 and any("doc-0.txt" in note for note in notes)
    assert_counts_agree(queue, trained, conflicting=(ids[0],))


def test_too_few_texts_without_a_conflict_refuse_a_retrain(store: Store, tmp_path: Path) -> None:
    batch_id, ids = batch(store, range(3))
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    for prediction_id in ids:
        queue.answer(store, "true", prediction_id)
    with pytest.raises(DatasetError, match="Only 3 reviewed document"):
        retrain_config(store, queue, tmp_path)


def test_building_a_queue_reads_its_texts_labels_in_one_query(store: Store) -> None:
    for index in range(1100):  # more corrected predictions than a History page holds
        store.add_correction(save(store, 1000 + index, OTHER), "false")
    store.add_correction(save(store, 1, OTHER), "false")
    batch_id, ids = batch(store, range(3))
    queue = build_queue(store, HistoryFilter(batch_id=batch_id))
    assert queue.reviewed == {ids[1]: "false"}
    with statements(store) as seen:
        found = labels_elsewhere(store, queue)
    assert list(found) == [make_document(1, words=12).sha256]
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1
