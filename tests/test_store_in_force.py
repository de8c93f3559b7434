"""One query says which person's label is in force (:mod:`longbert.store.in_force`): the
correction sets, bulk confirm's check by text and the Review queue's labels by text all read it,
so a taken-back correction, another label set or another kind of model means the same to all."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers.store_factories import make_document, make_prediction

from longbert.store import Store
from longbert.store.in_force import corrections_in_force
from longbert.store.schema import PredictionRow

LABELS = ("true", "false")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'f.sqlite'}")


def save(store: Store, index: int, model: str, label: str = "true", labels: tuple[str, ...] = LABELS) -> int:
    document = make_document(index, words=12)
    prediction = dataclasses.replace(
        make_prediction(document, model=model, label=label, labels=labels, seed=index), attention=None
    )
    return store.save_prediction(prediction, document)


def test_only_each_predictions_latest_correction_is_read(store: Store) -> None:
    first = save(store, 0, "model-x")
    store.add_correction(first, "false")
    kept = store.add_correction(first, "true")
    second = save(store, 1, "model-x")
    older = store.add_correction(second, "true")
    store.remove_correction(second, store.add_correction(second, "false"))  # taken back
    save(store, 2, "model-x")  # never corrected
    topics = save(store, 3, "topics", label="econ", labels=("econ", "sport"))
    store.add_correction(topics, "sport")

    votes = store._db.read(lambda session: list(corrections_in_force(session)))
    assert [(v.prediction_id, v.correction_id, v.value) for v in votes] == [
        (first, kept, "true"),
        (second, older, "true"),
        (topics, votes[2].correction_id, "sport"),
    ]
    assert votes[2].label_set == ("econ", "sport") and votes[2].model == "topics"
    assert votes[0].document_sha256 == make_document(0, words=12).sha256
    text_1 = [PredictionRow.document_id == votes[1].document_id]
    only_text_1 = store._db.read(lambda session: list(corrections_in_force(session, text_1)))
    assert [v.prediction_id for v in only_text_1] == [second]
    # Every reader agrees: the training set, the texts' labels and the correction sets.
    found = store.labels_of_texts([v.document_sha256 for v in votes], LABELS, multi_label=False)
    assert {sha: [vote.labels for vote in vs] for sha, vs in found.items()} == {
        votes[0].document_sha256: [("true",)],
        votes[1].document_sha256: [("true",)],
    }
    assert store.correction_conflicts() == []


def test_bulk_confirm_compares_only_models_of_the_same_kind(store: Store) -> None:
    """A multi-label model's labels answer another question than a single-label model's with
    the same label names: they neither block a confirm nor count as agreeing with it."""
    store.register_model("multi", labels=LABELS, multi_label=True)
    tagged = save(store, 5, "multi")
    store.add_correction(tagged, ["true", "false"])  # both tags: not the single label "true"
    single = save(store, 5, "model-x", label="true")
    outcome = store.confirm_predictions([single])
    assert outcome.confirmed == [single] and outcome.skipped == []

    # Within one kind a person's different label still blocks the confirm.
    other = save(store, 5, "model-y", label="false")
    outcome = store.confirm_predictions([other])
    assert outcome.confirmed == [] and "'true'" in outcome.skipped[0][2]
