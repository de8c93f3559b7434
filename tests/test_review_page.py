"""The Review page through AppTest, on a batch stored directly (no model is loaded): the keys
press the label, accept and undo buttons, and those buttons save and take back corrections."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import Store, get_store
from longbert.ui.review import ACCEPT_NOTE, ANSWER_NOTE
from longbert.ui.review_keys import ACCEPT_KEY, NEXT_KEY, PREVIOUS_KEY, UNDO_KEY, bindings, label_key
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics", "business")
MODEL = "zero-shot:minilm"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def _batch(store: Store, probabilities: list[dict[str, float]]) -> tuple[int, list[int]]:
    names = [f"doc-{i}.txt" for i in range(len(probabilities))]
    config = {"model": "zero-shot", "model_name": MODEL, "labels": list(LABELS)}
    batch_id = store.create_batch("news", config=config, items=names)
    ids = []
    for position, values in enumerate(probabilities):
        document = make_document(position, name=names[position], source="batch")
        label = max(values, key=lambda k: values[k])
        prediction = make_prediction(document, model=MODEL, labels=LABELS, label=label, zero_shot=True)
        prediction.probabilities.clear()
        prediction.probabilities.update(values)
        ids.append(store.save_prediction(prediction, document, batch_id=batch_id, item_index=position))
    store.mark_batch_status(batch_id, "done")
    return batch_id, ids


def _listener(at: AppTest) -> dict[str, str]:
    """The key → widget-key map of the keyboard listener the page rendered."""
    (script,) = [h.proto.body for h in at.get("html") if "__longbertReviewKeys" in h.proto.body]
    found = re.search(r"const keys = (\{.*?\});", script, re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_keys_press_the_buttons_that_save_and_undo_corrections(app: AppTest) -> None:
    store = get_store()
    _, ids = _batch(
        store,
        [
            {"sport": 0.90, "politics": 0.05, "business": 0.05},
            {"sport": 0.40, "politics": 0.39, "business": 0.21},  # the closest call: asked first
            {"sport": 0.20, "politics": 0.60, "business": 0.20},
        ],
    )
    app.run()
    app.switch_page("app_pages/review.py").run()
    assert_ok(app)
    assert f"Prediction #{ids[1]} · 1 of 3" in app.caption[2].value
    assert app.progress[0].proto.text == "0 reviewed · 0 changed · 3 to go"

    keys = _listener(app)
    assert keys == bindings(LABELS)
    assert keys["2"] == label_key(1) and keys["enter"] == ACCEPT_KEY and keys["u"] == UNDO_KEY
    assert (keys["arrowleft"], keys["arrowright"]) == (PREVIOUS_KEY, NEXT_KEY)

    # Pressing "2" clicks the button the listener binds it to: label 2, politics.
    button = app.button(key=keys["2"])
    assert button.label.endswith("politics")
    button.click().run()
    assert_ok(app)
    (saved,) = store.list_corrections(ids[1])
    assert (saved.label, saved.note) == ("politics", ANSWER_NOTE)
    assert app.success[0].value.startswith(f"Saved #{ids[1]} as 'politics' (changed")
    assert app.progress[0].proto.text == "1 reviewed · 1 changed · 2 to go"

    # Enter accepts the model's label of the next document (margin order: ids[2], then ids[0]).
    assert app.button(key=keys["enter"]).label == "Accept 'politics' (Enter)"
    app.button(key=keys["enter"]).click().run()
    (accepted,) = store.list_corrections(ids[2])
    assert (accepted.label, accepted.note) == ("politics", ACCEPT_NOTE)
    assert app.progress[0].proto.text == "2 reviewed · 1 changed · 1 to go"

    # U takes the last answer back; the page returns to that document.
    app.button(key=keys["u"]).click().run()
    assert store.list_corrections(ids[2]) == []
    assert [c.label for c in store.list_corrections(ids[1])] == ["politics"]
    assert f"Prediction #{ids[2]}" in app.caption[2].value
    assert app.progress[0].proto.text == "1 reviewed · 1 changed · 2 to go"

    # Arrows move without saving anything.
    app.button(key=keys["arrowleft"]).click().run()
    assert f"Prediction #{ids[1]}" in app.caption[2].value
    app.button(key=keys["arrowright"]).click().run()
    assert f"Prediction #{ids[2]}" in app.caption[2].value
    assert store.list_corrections(ids[0]) == [] and store.list_corrections(ids[2]) == []
    # Fewer than four answers: no retrain yet.
    assert app.button(key="review:retrain").disabled


def test_the_page_says_what_to_do_without_a_batch(app: AppTest) -> None:
    app.run()
    app.switch_page("app_pages/review.py").run()
    assert_ok(app)
    assert "No labelled batch yet" in app.info[0].value


def test_a_diverse_order_computes_embeddings_in_the_background(app: AppTest) -> None:
    store = get_store()
    _batch(
        store,
        [
            {"sport": 0.5, "politics": 0.3, "business": 0.2},
            {"sport": 0.4, "politics": 0.35, "business": 0.25},
            {"sport": 0.6, "politics": 0.3, "business": 0.1},
        ],
    )
    app.run()
    app.switch_page("app_pages/review.py").run()
    app.selectbox(key="review:sampler").set_value("kcenter").run()
    assert "needs the documents' embeddings" in app.info[0].value
    app.button(key="review:embed").click().run()  # the zero-shot model, once per process
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and any("needs the documents" in i.value for i in app.info):
        time.sleep(1)
        app.run()
        assert_ok(app)
    assert not any("needs the documents" in i.value for i in app.info)
    queue = app.session_state["review:queue"]
    assert queue.sampler == "kcenter" and len(queue.embeddings) == 3 and queue.rescored is None
