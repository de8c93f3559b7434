"""A conflict is about a text and a label set, whatever models made its predictions.

Audit 33: a text corrected to 'sport' on a zero-shot prediction (label set "Desk") and later to
'politics' on the trained model desk-v1's prediction (same label set) went into the zero-shot
model's training set as 'sport', with no conflict listed in History; only the merged export saw
it. Now every reader finds it (History, each model's correction set, both exports), and a
person settles it by keeping one answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert.store import CorrectionChangedError, Store, StoreError
from longbert.store.conflicts import TextConflict
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'x.sqlite'}")


def predict(store: Store, index: int, model: str, label: str = "sport", labels: tuple[str, ...] = LABELS,
            zero_shot: bool = False) -> int:  # fmt: skip
    document = make_document(index)
    prediction = make_prediction(document, model=model, label=label, labels=labels, zero_shot=zero_shot)
    return store.save_prediction(prediction, document, label_set="Desk")


def names_and_labels(path: Path) -> list[tuple[str, object]]:
    return [(row["name"], row["label"]) for row in map(json.loads, path.read_text().splitlines())]


def audit_scenario(store: Store) -> tuple[int, int]:
    """Six texts corrected on zero-shot predictions; doc-0 later relabelled on desk-v1's."""
    first = 0
    for index in range(6):
        prediction = predict(store, index, "zs-enc", zero_shot=True)
        store.add_correction(prediction, ["sport", "politics"][index % 2])
        first = first or prediction
    later = predict(store, 0, "desk-v1")
    store.add_correction(later, "politics")
    return first, later


def test_a_text_relabelled_on_another_models_prediction_is_a_conflict_everywhere(
    store: Store, tmp_path: Path
) -> None:
    zero_shot, trained = audit_scenario(store)

    [conflict] = store.correction_conflicts()
    assert isinstance(conflict, TextConflict)
    assert conflict.document_name == "doc-0.txt"
    assert conflict.votes == {"sport": [zero_shot], "politics": [trained]}
    assert conflict.models == ("zs-enc", "desk-v1") and conflict.latest.prediction_id == trained
    assert store.correction_conflicts("zs-enc") == store.correction_conflicts("desk-v1") == [conflict]
    assert {s.model: s.conflicts for s in store.correction_sets()} == {"zs-enc": 1, "desk-v1": 1}

    # The Train page's export (one model's corrections): refused, naming both predictions.
    path = tmp_path / "train.jsonl"
    with pytest.raises(
        StoreError,
        match=rf"doc-0\.txt \('sport' in #{zero_shot} \(zs-enc\), "
        rf"'politics' in #{trained} \(desk-v1\)\)",
    ):
        store.export_corrections_training_set(path, model="zs-enc", labels=list(LABELS))
    with pytest.raises(StoreError, match="conflict"):
        store.count_corrections("zs-enc", list(LABELS))
    assert not path.exists()
    with pytest.warns(UserWarning, match=r"Left out 1 document.*doc-0\.txt"):
        assert (
            store.export_corrections_training_set(
                path, model="zs-enc", labels=list(LABELS), conflicts="leave_out"
            )
            == 5
        )
    assert "doc-0.txt" not in dict(names_and_labels(path))
    # The merged export (Review's retrain) agrees.
    with pytest.raises(StoreError, match=r"doc-0\.txt"):
        store.export_corrections_training_set(path, labels=list(LABELS))


def test_settling_keeps_the_chosen_answer_on_every_prediction_of_the_text(
    store: Store, tmp_path: Path
) -> None:
    zero_shot, trained = audit_scenario(store)
    [conflict] = store.correction_conflicts()

    [added] = store.settle_conflict(trained, conflict.shown)
    assert store.correction_conflicts() == []
    assert [(c.label, c.id == added) for c in store.list_corrections(zero_shot)] == [
        ("sport", False),
        ("politics", True),
    ]  # the old answer stays in its history
    assert "settled a conflict" in (store.list_corrections(zero_shot)[-1].note or "")
    assert [c.label for c in store.list_corrections(trained)] == ["politics"]  # left as it was

    path = tmp_path / "train.jsonl"
    assert store.export_corrections_training_set(path, model="zs-enc", labels=list(LABELS)) == 6
    assert dict(names_and_labels(path))["doc-0.txt"] == "politics"
    assert store.export_corrections_training_set(path, model="desk-v1", labels=list(LABELS)) == 1
    assert names_and_labels(path) == [("doc-0.txt", "politics")]
    assert store.export_corrections_training_set(path, labels=list(LABELS)) == 6

    store.remove_correction(zero_shot, added)  # taking the settlement back: the conflict is back
    assert len(store.correction_conflicts()) == 1


def test_settling_never_overrules_a_label_set_since(store: Store) -> None:
    zero_shot, trained = audit_scenario(store)
    [conflict] = store.correction_conflicts()
    store.add_correction(zero_shot, "sport", note="looked again")  # after the conflict was read

    with pytest.raises(CorrectionChangedError, match=rf"#{zero_shot}.*'sport' \(looked again\)"):
        store.settle_conflict(trained, conflict.shown)
    assert [c.label for c in store.list_corrections(zero_shot)] == ["sport", "sport"]
    with pytest.raises(StoreError, match="the prediction whose label is kept"):
        store.settle_conflict(trained, {trained: conflict.shown[trained]})
    other = predict(store, 9, "desk-v1")
    other_correction = store.add_correction(other, "sport")
    [fresh] = store.correction_conflicts()
    with pytest.raises(StoreError, match="one text"):
        store.settle_conflict(trained, {**fresh.shown, other: other_correction})
    assert store.list_corrections(other)[-1].id == other_correction


def test_other_label_sets_and_kinds_are_other_questions(store: Store) -> None:
    store.add_correction(predict(store, 1, "zs-enc", zero_shot=True), "sport")
    store.add_correction(predict(store, 1, "wide", labels=(*LABELS, "weather")), "weather")
    store.register_model("tags", labels=list(LABELS), multi_label=True)
    store.add_correction(predict(store, 1, "tags"), ["politics"])
    assert store.correction_conflicts() == []
    assert all(s.conflicts == 0 for s in store.correction_sets())


def test_multi_label_models_conflict_across_models_and_settle_with_the_list(store: Store) -> None:
    for name in ("tags-a", "tags-b"):
        store.register_model(name, labels=list(LABELS), multi_label=True)
    first, second = predict(store, 1, "tags-a"), predict(store, 1, "tags-b", labels=LABELS[::-1])
    store.add_correction(first, ["sport"])
    store.add_correction(second, ["politics", "sport"])
    [conflict] = store.correction_conflicts()
    assert conflict.multi_label and conflict.votes == {"sport": [first], "politics, sport": [second]}
    store.settle_conflict(second, conflict.shown)
    assert store.list_corrections(first)[-1].labels == ["politics", "sport"]
    assert store.correction_conflicts() == []
