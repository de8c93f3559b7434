"""The Review page on a multi-label batch: it shows the model's label set, Enter accepts the
whole set, and number keys toggle labels that S saves as a set."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import Store, get_store
from longbert.ui.review import ACCEPT_NOTE, ANSWER_NOTE
from longbert.ui.review_keys import ACCEPT_KEY, SAVE_KEY, bindings, label_key
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("econ", "sport", "politics")
MODEL = "news-multi"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    from app_pages import resources

    # Jobs live per server process: one an earlier test left for its "batch:1" queue is not
    # this database's batch 1's.
    resources.jobs.clear()
    yield fresh_app(tmp_path, monkeypatch)


def _multi_label_batch(store: Store, probabilities: list[dict[str, float]]) -> list[int]:
    store.register_model(MODEL, labels=LABELS, multi_label=True)
    names = [f"doc-{i}.txt" for i in range(len(probabilities))]
    batch_id = store.create_batch("news", config={"model": MODEL, "labels": list(LABELS)}, items=names)
    ids = []
    for position, values in enumerate(probabilities):
        document = make_document(position, name=names[position], source="batch")
        best = max(values, key=lambda k: values[k])
        prediction = make_prediction(document, model=MODEL, labels=LABELS, label=best)
        chosen = [label for label in LABELS if values[label] >= 0.5]
        prediction = dataclasses.replace(
            prediction, probabilities=values, labels=chosen, extra={"threshold": 0.5}
        )
        ids.append(store.save_prediction(prediction, document, batch_id=batch_id, item_index=position))
    store.mark_batch_status(batch_id, "done")
    return ids


def test_a_multi_label_queue_accepts_and_saves_label_sets(app: AppTest) -> None:
    store = get_store()
    ids = _multi_label_batch(
        store,
        [
            {"econ": 0.95, "sport": 0.90, "politics": 0.02},  # sure: asked last
            {"econ": 0.55, "sport": 0.52, "politics": 0.10},  # the closest call: asked first
        ],
    )
    app.run()
    app.switch_page("app_pages/review.py").run()
    assert_ok(app)
    caption = app.caption[2].value
    assert f"Prediction #{ids[1]}" in caption
    assert "**econ** (55%), **sport** (52%)" in caption  # the set, not the most probable alone
    assert app.button(key=ACCEPT_KEY).label == "Accept 'econ, sport' (Enter)"
    assert bindings(LABELS, multi_label=True)["s"] == SAVE_KEY

    app.button(key=ACCEPT_KEY).click().run()  # Enter
    assert_ok(app)
    (accepted,) = store.list_corrections(ids[1])
    assert (accepted.labels, accepted.note) == (["econ", "sport"], ACCEPT_NOTE)

    # The next document: toggle 'sport' off and 'politics' on (keys 2 and 3), then S saves.
    assert f"Prediction #{ids[0]}" in app.caption[2].value
    assert app.button(key=label_key(1)).label.startswith("✓ ")  # the model chose it
    app.button(key=label_key(1)).click().run()
    app.button(key=label_key(2)).click().run()
    assert store.list_corrections(ids[0]) == []  # toggling saves nothing
    assert app.button(key=SAVE_KEY).label == "Save 'econ, politics' (S)"
    app.button(key=SAVE_KEY).click().run()
    assert_ok(app)
    (saved,) = store.list_corrections(ids[0])
    assert (saved.labels, saved.note) == (["econ", "politics"], ANSWER_NOTE)
    assert app.progress[0].proto.text == "2 reviewed · 1 changed · 0 to go"


def test_a_text_labelled_in_another_batch_shows_that_label_and_where_it_is_from(app: AppTest) -> None:
    store = get_store()
    ids = []
    for name in ("first", "second"):  # one text uploaded in two batches
        batch_id = store.create_batch(name, config={"model": "m"}, items=["doc-0.txt"])
        document = make_document(0, name="doc-0.txt", source="batch")
        prediction = make_prediction(document, model="m")
        ids.append(store.save_prediction(prediction, document, batch_id=batch_id, item_index=0))
        store.mark_batch_status(batch_id, "done")
    store.add_correction(ids[0], "false", note="person")
    app.run()
    app.switch_page("app_pages/review.py").run()
    app.selectbox(key="review:batch").set_value(2).run()
    assert_ok(app)
    caption = app.caption[2].value
    assert f"Prediction #{ids[1]}" in caption and "reviewed: **false**" in caption
    assert f"a person's label of the same text, on prediction #{ids[0]}" in caption
    assert app.progress[0].proto.text == "1 reviewed · 1 changed · 0 to go"
    assert store.list_corrections(ids[1]) == []
