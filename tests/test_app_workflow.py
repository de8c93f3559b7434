"""The labelling workflow through Streamlit's AppTest, on a database filled directly (no model
is loaded): bulk confirm never overrules a person, "—" removes a correction in one grid that
keeps its place, History's form follows the label in force, conflicts and the label filter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import Store, get_store
from tests.helpers.app_testing import APP, assert_ok, fake_checkpoint, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def _batch(store: Store, labels: dict[int, tuple[str, int]], name: str = "b") -> tuple[int, list[int]]:
    """A finished batch of documents ``index → (predicted label, seed)``; returns its id and
    prediction ids in order."""
    names = [f"doc-{i}.txt" for i in labels]
    config = {"model": "zero-shot", "model_name": "zero-shot:minilm", "labels": list(LABELS)}
    batch_id = store.create_batch(name, config=config, items=names)
    ids = []
    for position, (index, (label, seed)) in enumerate(labels.items()):
        document = make_document(index, name=f"doc-{index}.txt", source="batch")
        prediction = make_prediction(document, model="zero-shot:minilm", labels=LABELS, label=label,
                                     seed=seed, zero_shot=True)
        ids.append(store.save_prediction(prediction, document, batch_id=batch_id, item_index=position))
    store.mark_batch_status(batch_id, "done")
    return batch_id, ids


def _open_batch(app: AppTest, batch_id: int) -> None:
    app.switch_page("app_pages/batch.py").run()
    app.selectbox(key="batch:open").set_value(batch_id).run()
    assert_ok(app)


def test_bulk_confirm_skips_a_persons_label_and_takes_a_confidence_threshold(app: AppTest) -> None:
    app.run()
    store = get_store()
    _, (careful,) = _batch(store, {1: ("sport", 0)}, "first")
    store.add_correction(careful, "politics", note="read it twice")
    # Seeds 0 and 3 give confidences of about 0.81 and 0.54 (make_prediction).
    second, ids = _batch(store, {1: ("sport", 0), 2: ("sport", 0), 3: ("politics", 3)}, "second")
    confidences = {r.id: r.confidence for r in store.history().rows}
    assert confidences[ids[1]] > 0.8 > 0.6 > confidences[ids[2]]
    _open_batch(app, second)
    assert app.button(key="batch:confirm").label == "Confirm the 3 uncorrected labels"
    app.slider(key=f"batch:confirm-threshold:{second}").set_value(60).run()
    assert app.button(key="batch:confirm").label == "Confirm the 2 uncorrected labels"
    app.button(key="batch:confirm").click().run()
    assert_ok(app)
    warning = " ".join(w.value for w in app.warning)
    assert "Confirmed 1 label." in warning and "Skipped 1" in warning and "doc" in warning
    assert store.list_corrections(ids[0]) == []  # the person's 'politics' is not overruled
    assert store.get_prediction(careful).final_labels == ["politics"]
    assert [c.label for c in store.list_corrections(ids[1])] == ["sport"]
    assert store.list_corrections(ids[2]) == []  # under the threshold
    assert store.correction_conflicts() == []


def test_choosing_the_dash_removes_a_correction_and_the_grid_keeps_its_place(app: AppTest) -> None:
    app.run()
    store = get_store()
    batch_id, ids = _batch(store, {1: ("sport", 0), 2: ("politics", 1)})
    _open_batch(app, batch_id)
    key = f"batch:editor:{batch_id}:0"
    app.session_state[key] = {"edited_rows": {1: {"correction": "sport"}}, "added_rows": [],
                              "deleted_rows": []}
    app.run()
    assert_ok(app)
    assert store.get_prediction(ids[1]).final_labels == ["sport"]
    # The mouse picks the "—" option (a value, not an empty cell): the correction goes.
    app.session_state[key] = {"edited_rows": {1: {"correction": "—"}}, "added_rows": [],
                              "deleted_rows": []}
    app.run()
    assert_ok(app)
    assert store.list_corrections(ids[1]) == []
    assert any("Removed the correction of doc" in t.value for t in app.toast)
    assert app.data_editor[0].value["correction"].tolist() == ["—", "—"]
    assert key in app.session_state  # the same editor: it keeps its scroll place
    # A correction set again elsewhere is not undone by the grid's old "—".
    store.add_correction(ids[1], "sport")
    app.run()
    assert_ok(app)
    assert store.get_prediction(ids[1]).final_labels == ["sport"]


def test_history_form_follows_the_label_in_force_and_shows_conflicts(app: AppTest) -> None:
    app.run()
    store = get_store()
    _, (first,) = _batch(store, {1: ("sport", 0)}, "first")
    _, (second,) = _batch(store, {1: ("sport", 0)}, "second")
    store.add_correction(first, "politics", note="the budget part decides")
    store.add_correction(first, "sport", note="second thoughts")
    store.add_correction(second, "politics")
    app.switch_page("app_pages/history.py").run()
    assert_ok(app)
    # first is 'sport' in force, second 'politics': one text, two people's labels.
    assert any("conflict" in w.value and "doc" in w.value for w in app.warning)
    app.checkbox(key="history:conflicts").check().run()
    assert "2 predictions" in app.number_input(key="history:page").label
    app.checkbox(key="history:conflicts").uncheck().run()
    app.selectbox(key="history:open").set_value(first).run()
    assert_ok(app)
    label = next(s for s in app.selectbox if s.label == "Correct label")
    note = next(t for t in app.text_input if t.label == "Note (optional)")
    assert (label.value, note.value) == ("sport", "second thoughts")
    app.button(key=f"history:uncorrect:{first}").click().run()
    assert_ok(app)
    label = next(s for s in app.selectbox if s.label == "Correct label")
    note = next(t for t in app.text_input if t.label == "Note (optional)")
    assert (label.value, note.value) == ("politics", "the budget part decides")
    assert store.correction_conflicts() == []


def test_history_label_filter_uses_the_label_in_force(app: AppTest) -> None:
    app.run()
    store = get_store()
    _, ids = _batch(store, {1: ("sport", 0), 2: ("politics", 1)})
    store.add_correction(ids[0], "politics")
    app.switch_page("app_pages/history.py").run()
    app.multiselect(key="history:label").set_value(["politics"]).run()
    assert_ok(app)
    assert "2 predictions" in app.number_input(key="history:page").label
    app.radio(key="history:label_of").set_value("predicted label").run()
    assert "1 prediction" in app.number_input(key="history:page").label


def test_train_page_never_picks_one_of_conflicting_corrections(app: AppTest) -> None:
    app.run()
    store = get_store()
    _, ids = _batch(store, {1: ("sport", 0), 2: ("sport", 1)}, "first")
    _, again = _batch(store, {1: ("sport", 0)}, "second")
    store.add_correction(ids[0], "politics")
    store.add_correction(again[0], "sport")
    app.switch_page("app_pages/train.py").run()
    assert_ok(app)
    assert any("conflicting corrections" in w.value for w in app.warning)
    assert app.checkbox(key="train:leave-out-conflicts").value is False
    app.button(key="train:start").click().run()
    assert_ok(app)
    assert any("conflict" in e.value and "doc-1.txt" in e.value for e in app.error)
    app.checkbox(key="train:leave-out-conflicts").check()
    app.button(key="train:start").click().run()
    assert_ok(app)  # one document is left: too few to train, said plainly
    assert any("without a conflict" in e.value for e in app.error)


def test_models_page_sets_the_default_and_deletes_a_checkpoint(app: AppTest, tmp_path: Path) -> None:

    folder = fake_checkpoint(
        tmp_path / "models", "news", ["politics", "sport"], saved_at="2026-01-01T00:00:00+00:00"
    )
    app.run()
    assert app.selectbox(key="classify:model").value == "zero-shot"  # never taken over silently
    app.switch_page("app_pages/models.py").run()
    assert_ok(app)
    app.button(key="models:default").click().run()
    assert_ok(app)
    assert any("Default model of every page: news" in c.value for c in app.caption)
    app.switch_page("app_pages/classify.py").run()
    assert app.selectbox(key="classify:model").value == str(folder.resolve())
    app.switch_page("app_pages/models.py").run()
    app.button(key="models:delete").click().run()
    assert_ok(app)
    assert not folder.exists() and any("Deleted news" in s.value for s in app.success)
    app.switch_page("app_pages/classify.py").run()
    assert app.selectbox(key="classify:model").value == "zero-shot"


def test_label_sets_are_chosen_by_name_and_outlive_the_browser_session(
    app: AppTest, tmp_path: Path,
) -> None:
    app.run()
    app.text_area(key="classify:labels").input("alpha: the first\nbeta: the second").run()
    assert_ok(app)
    store = get_store()
    assert store.get_label_set("Draft (last typed labels)").labels == ["alpha", "beta"]
    again = AppTest.from_file(str(APP), default_timeout=60)  # a new browser session
    again.run()
    assert again.text_area(key="classify:labels").value == "alpha: the first\nbeta: the second"
    again.text_input(key="classify:label_set_name").input("Greek").run()
    again.button(key="classify:label_set_save").click().run()
    assert_ok(again)
    assert store.get_label_set("Greek").descriptions == {"alpha": "the first", "beta": "the second"}
    third = AppTest.from_file(str(APP), default_timeout=60)
    third.run()
    assert third.selectbox(key="classify:label_set").value == "Greek"
    third.switch_page("app_pages/batch.py").run()
    assert third.selectbox(key="batch:label_set").value == "Greek"
    assert third.text_area(key="batch:labels").value.startswith("alpha: the first")


def test_a_trained_models_strategy_does_not_carry_over_to_zero_shot(app: AppTest, tmp_path: Path) -> None:

    folder = fake_checkpoint(tmp_path / "models", "news", ["politics", "sport"])
    app.run()
    app.selectbox(key="classify:model").set_value(str(folder.resolve())).run()
    app.selectbox(key="classify:strategy").set_value("chunk").run()
    app.switch_page("app_pages/batch.py").run()
    assert app.selectbox(key="batch:strategy").value == "chunk"  # same model: remembered
    app.selectbox(key="batch:model").set_value("zero-shot").run()
    assert_ok(app)
    assert app.selectbox(key="batch:strategy").value == "__model__"  # zero-shot's own


def test_batch_results_join_back_score_against_gold_and_speak_label_studio(app: AppTest) -> None:
    import json

    app.run()
    store = get_store()
    names = ["t.csv#row=1", "t.csv#row=2"]
    config = {"model": "zero-shot", "model_name": "zero-shot:minilm", "labels": list(LABELS)}
    batch_id = store.create_batch("gold", config=config, items=names, fields={
        0: {"id": "17", "title": "Cup final", "label": "sport"},
        1: {"id": "18", "title": "Budget", "label": "politics"}})
    for position, name in enumerate(names):
        document = make_document(position, name=name, source="batch")
        store.save_prediction(make_prediction(document, model="zero-shot:minilm", labels=LABELS,
                                              label="sport", zero_shot=True), document,
                              batch_id=batch_id, item_index=position)
    _open_batch(app, batch_id)
    frame = app.data_editor[0].value
    assert frame["title"].tolist() == ["Cup final", "Budget"] and frame["id"].tolist() == ["17", "18"]
    assert frame["preview"][0].startswith("Document 0.")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Accuracy"] == "50.0%"
    assert app.data_editor[0].value["label_set"].tolist() == ["", ""]  # none recorded here
    first = get_store().batch_items(batch_id)[0].prediction_id
    app.selectbox(key=f"batch:view:{batch_id}").set_value(first).run()
    assert_ok(app)
    assert "sport" in [m.value for m in app.metric]  # the highlighted view of that row
    app.button(key="batch:more-formats").click().run()
    assert_ok(app)
    assert {"Download Parquet", "Download for Label Studio"} <= {d.label for d in app.download_button}

    described = {"sport": "matches, teams", "politics": "elections, parliament"}
    store.save_label_set("news", described)  # an existing set: the file may add to it, never replace it
    tasks = [{"id": 1, "data": {"text": "The keeper saved a penalty."},
              "annotations": [{"result": [{"type": "choices", "value": {"choices": ["sport"]}}]}]}]
    app.file_uploader(key="batch:ls-file").set_value(
        [("export.json", json.dumps(tasks).encode(), "application/json")])
    app.text_input(key="batch:ls-label-set").input("news").run()
    app.button(key="batch:ls-import").click().run()
    assert_ok(app)
    assert any("Imported 1 task" in s.value for s in app.success), [e.value for e in app.error]
    assert [r.corrected_label for r in store.history().rows if r.label_set == "news"] == ["sport"]
    assert store.get_label_set("news").descriptions == described  # zero-shot still reads them
    app.button(key="batch:ls-import").click().run()  # the same file again adds nothing
    assert any("1 task imported before" in i.value for i in app.info)
    assert [r.corrected_label for r in store.history().rows if r.label_set == "news"] == ["sport"]


def test_classify_hint_follows_the_model_and_a_strategy_change_drops_the_result(
    app: AppTest, tmp_path: Path,
) -> None:

    folder = fake_checkpoint(tmp_path / "models", "news", ["politics", "sport"])
    app.run()
    assert "Zero-shot labels it" in app.info[0].value
    app.selectbox(key="classify:model").set_value(str(folder.resolve())).run()
    assert "trained model **news**" in app.info[0].value and "Without a trained" not in app.info[0].value
    app.selectbox(key="classify:model").set_value("zero-shot").run()
    app.text_area(key="classify:text").input("The striker scored twice in the final. " * 20)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert app.metric[0].value == "sport"
    app.selectbox(key="classify:strategy").set_value("truncate").run()
    assert_ok(app)
    assert not app.metric  # the result described the other strategy: gone
