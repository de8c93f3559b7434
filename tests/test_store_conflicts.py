"""People's labels are never silently overruled: conflicts are found and refused (or left out
with a warning), a bulk confirm skips texts a person labelled otherwise, and History filters on
the label in force."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longbert.store import CONFIRM_NOTE, HistoryFilter, Store, StoreError
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'c.sqlite'}")


def predict(store: Store, index: int, label: str, labels: tuple[str, ...] = LABELS) -> int:
    document = make_document(index, name=f"doc-{index}.txt")
    return store.save_prediction(make_prediction(document, labels=labels, label=label), document)


def test_bulk_confirm_never_overrules_a_persons_label_on_the_same_text(store: Store) -> None:
    careful = predict(store, 1, "sport")  # first batch: a person corrects it
    store.add_correction(careful, "politics", note="read it twice")
    again = predict(store, 1, "sport")  # second batch of the same text: the model still says sport
    fresh = predict(store, 2, "sport")
    agreeing = predict(store, 3, "politics")
    store.add_correction(predict(store, 3, "sport"), "politics")
    other_set = predict(store, 1, "a", labels=("a", "b"))  # another label set: no conflict

    outcome = store.confirm_predictions([again, fresh, agreeing, careful, other_set])
    assert outcome.confirmed == [fresh, agreeing, other_set]
    reasons = {p: (name, why) for p, name, why in outcome.skipped}
    assert reasons[careful] == ("doc-1.txt", "already corrected")
    assert reasons[again][0] == "doc-1.txt"
    assert f"'politics' in #{careful}" in reasons[again][1] and "'sport'" in reasons[again][1]
    assert store.list_corrections(again) == []
    assert store.list_corrections(fresh)[0].note == CONFIRM_NOTE
    assert store.correction_conflicts() == []
    assert store.count_corrections(labels=list(LABELS)) == 3


def test_two_confirms_of_one_text_in_one_call_cannot_disagree(store: Store) -> None:
    first, second = predict(store, 4, "sport"), predict(store, 4, "politics")
    outcome = store.confirm_predictions([first, second])
    assert outcome.confirmed == [first] and outcome.skipped[0][0] == second


def test_conflicts_are_listed_refused_or_left_out_with_a_warning(store: Store, tmp_path: Path) -> None:
    one, two = predict(store, 1, "sport"), predict(store, 1, "sport")
    store.add_correction(one, "politics")
    store.add_correction(two, "sport")
    store.add_correction(predict(store, 2, "sport"), "sport")

    [conflict] = store.correction_conflicts()
    assert conflict.document_name == "doc-1.txt" and conflict.votes == {"politics": [one], "sport": [two]}
    assert conflict.prediction_ids == [one, two] and "'politics'" in conflict.title
    assert store.correction_sets()[0].conflicts == 1
    path = tmp_path / "train.jsonl"
    with pytest.raises(StoreError, match=r"conflict.*doc-1\.txt"):
        store.export_corrections_training_set(path)
    with pytest.raises(StoreError, match="conflict"):
        store.count_corrections()
    assert not path.exists()
    with pytest.warns(UserWarning, match=r"conflict.*doc-1\.txt"):
        assert store.export_corrections_training_set(path, conflicts="leave_out") == 1
    assert [json.loads(line)["name"] for line in path.read_text().splitlines()] == ["doc-2.txt"]
    assert store.count_corrections(conflicts="leave_out") == 1
    with pytest.raises(StoreError, match="conflicts must be"):
        store.count_corrections(conflicts="latest")

    # History shows the conflicting predictions; settling one clears the conflict.
    rows = store.history(HistoryFilter(prediction_ids=conflict.prediction_ids)).rows
    assert sorted(r.id for r in rows) == [one, two]
    store.remove_correction(two)
    assert store.correction_conflicts() == []
    assert store.export_corrections_training_set(path) == 2


def test_label_filter_on_the_label_in_force(store: Store) -> None:
    corrected_to = predict(store, 1, "sport")
    store.add_correction(corrected_to, "politics")
    plain = predict(store, 2, "politics")
    corrected_away = predict(store, 3, "politics")
    store.add_correction(corrected_away, "sport")

    def ids(label_of: str) -> list[int]:
        filters = HistoryFilter(label="politics", label_of=label_of)
        return sorted(r.id for r in store.history(filters).rows)

    assert ids("final") == [corrected_to, plain]
    assert ids("predicted") == [plain, corrected_away]
    assert ids("corrected") == [corrected_to]
    assert store.count_predictions(HistoryFilter(label="sport", label_of="final")) == 1
    with pytest.raises(StoreError, match="label_of"):
        store.history(HistoryFilter(label="x", label_of="guess"))
    store.add_correction(predict(store, 4, "sport", labels=("sport", "weather")), "weather")
    assert "weather" in store.filter_options()["label"]  # a label only a person gave
