"""Settling a conflict looks at every prediction of the text with the same labels, not only
those shown, and checks the kept label as add_correction does.

Audit 33 (2026-12-08): prediction #1 said 'sport', #2 'politics' (a conflict in History); a
third prediction #3 of the text, by another model with the same label set, was labelled
'economy' meanwhile (not in the view). Keeping 'sport' saved it on #2 and History said 'sport'
was now the label in force on every prediction of the text, while the text was still in
conflict ({'sport': [1, 2], 'economy': [3]}). Now nothing is saved and the store says which
prediction carries which label, so the person settles the conflict as it is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from longbert.store import CorrectionChangedError, Store, StoreError
from longbert.ui.conflicts import settle
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics", "economy")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'x.sqlite'}")


def predict(store: Store, model: str, labels: tuple[str, ...] = LABELS, index: int = 0, *,
            zero_shot: bool = False, label: str = "sport") -> int:  # fmt: skip
    document = make_document(index)
    prediction = make_prediction(document, model=model, label=label, labels=labels, zero_shot=zero_shot)
    return store.save_prediction(prediction, document, label_set="Desk")


def shown_conflict(store: Store) -> tuple[int, int]:
    """doc-0: 'sport' on a zero-shot prediction, 'politics' on desk-v1's (what History shows)."""
    first = predict(store, "zs", zero_shot=True)
    store.add_correction(first, "sport")
    second = predict(store, "desk-v1")
    store.add_correction(second, "politics")
    return first, second


def corrections(store: Store, *prediction_ids: int) -> list[list[str]]:
    return [[c.label for c in store.list_corrections(p)] for p in prediction_ids]


def test_a_label_not_shown_that_disagrees_stops_the_settle_and_nothing_is_saved(store: Store) -> None:
    first, second = shown_conflict(store)
    [seen] = store.correction_conflicts()
    third = predict(store, "desk-v2")  # meanwhile: another model, the same labels, another answer
    store.add_correction(third, "economy")

    with pytest.raises(CorrectionChangedError, match=rf"doc-0\.txt.*#{third} desk-v2: 'economy'"):
        store.settle_conflict(first, seen.shown)
    with pytest.raises(CorrectionChangedError, match="Nothing was saved"):
        settle(store, seen, "sport")  # what History calls: no false "Settled" message
    assert corrections(store, first, second, third) == [["sport"], ["politics"], ["economy"]]
    [fresh] = store.correction_conflicts()
    assert fresh.votes == {"sport": [first], "politics": [second], "economy": [third]}

    # The fresh view shows all three answers; keeping 'sport' now settles the text for good.
    message = settle(store, fresh, "sport")
    assert corrections(store, first, second, third) == [
        ["sport"],
        ["politics", "sport"],
        ["economy", "sport"],
    ]
    assert store.correction_conflicts() == []
    assert message == (
        "Settled doc-0.txt: people's labels on it under this label set now all say 'sport' "
        f"(2 new corrections, on #{second}, #{third}; their earlier labels stay in their history)."
    )


def test_a_label_not_shown_that_agrees_with_the_kept_one_lets_the_settle_through(store: Store) -> None:
    first, second = shown_conflict(store)
    [seen] = store.correction_conflicts()
    third = predict(store, "desk-v2")
    store.add_correction(third, "sport")  # meanwhile, agreeing with the answer the person keeps
    unlabelled = predict(store, "desk-v3", label="economy")  # no person's label: the model's stays

    message = settle(store, seen, "sport")
    assert store.correction_conflicts() == []
    assert corrections(store, first, second, third, unlabelled) == [
        ["sport"],
        ["politics", "sport"],
        ["sport"],
        [],
    ]
    assert message == (
        "Settled doc-0.txt: people's labels on it under this label set now all say 'sport' "
        f"(1 new correction, on #{second}; its earlier label stays in its history)."
    )


def test_keeping_the_other_answer_would_overrule_the_label_not_shown_so_it_is_refused(store: Store) -> None:
    first, second = shown_conflict(store)
    [seen] = store.correction_conflicts()
    third = predict(store, "desk-v2")
    store.add_correction(third, "sport")  # meanwhile; the person keeps 'politics'
    with pytest.raises(
        CorrectionChangedError, match=rf"otherwise than 'politics' \(#{third} desk-v2: 'sport'"
    ):
        settle(store, seen, "politics")
    assert corrections(store, first, second, third) == [["sport"], ["politics"], ["sport"]]


def test_other_texts_and_other_label_sets_do_not_stop_a_settle(store: Store) -> None:
    first, second = shown_conflict(store)
    [seen] = store.correction_conflicts()
    store.add_correction(predict(store, "wide", (*LABELS, "weather")), "weather")  # another question
    store.add_correction(predict(store, "desk-v2", index=1), "economy")  # another text
    settle(store, seen, "politics")
    assert corrections(store, first, second) == [["sport", "politics"], ["politics"]]
    assert store.correction_conflicts() == []


def test_the_kept_label_is_checked_against_each_prediction_like_add_correction(store: Store) -> None:
    # The zero-shot model's first labelling had 'weather'; add_correction accepts the model's
    # labels, so doc-0 can carry 'weather' on its zero-shot prediction with the Desk labels ...
    predict(store, "zs", ("sport", "politics", "weather"), index=9, zero_shot=True)
    first = predict(store, "zs", zero_shot=True)
    store.add_correction(first, "weather")
    second = predict(store, "desk-v1")
    store.add_correction(second, "politics")
    with pytest.raises(StoreError, match="Unknown label"):
        store.add_correction(second, "weather")
    [conflict] = store.correction_conflicts()
    # ... but desk-v1 does not have that label: settling on it is refused as add_correction is.
    with pytest.raises(StoreError, match=r"Unknown label\(s\) 'weather' for model 'desk-v1'"):
        store.settle_conflict(first, conflict.shown)
    assert corrections(store, first, second) == [["weather"], ["politics"]]
    store.settle_conflict(second, conflict.shown)  # the other way round is fine
    assert corrections(store, first) == [["weather", "politics"]]
