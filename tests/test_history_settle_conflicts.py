"""History lists a conflict between two models' predictions of one text (same label set) and
lets a person settle it by keeping one answer (audit 33: History listed none, so the merged
export's "Settle each conflict in History" led nowhere)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import Store, get_store
from longbert.ui.conflicts import answer_title, answers, conflict_key
from longbert.ui.formatting import md
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def _cross_model_conflict(store: Store) -> tuple[int, int]:
    """doc-0 corrected to 'sport' on a zero-shot prediction, later to 'politics' on desk-v1's
    (the same label set "Desk"); five more texts corrected on zero-shot predictions."""
    ids = []
    for index in range(6):
        document = make_document(index)
        prediction = make_prediction(document, model="zs-enc", label="sport", labels=LABELS, zero_shot=True)
        ids.append(store.save_prediction(prediction, document, label_set="Desk"))
        store.add_correction(ids[-1], ["sport", "politics"][index % 2])
    document = make_document(0)
    later = store.save_prediction(make_prediction(document, model="desk-v1", label="sport", labels=LABELS),
                                  document, label_set="Desk")  # fmt: skip
    store.add_correction(later, "politics")
    return ids[0], later


def test_history_shows_a_cross_model_conflict_and_settles_it(app: AppTest, tmp_path: Path) -> None:
    app.run()
    store = get_store()
    zero_shot, trained = _cross_model_conflict(store)
    app.switch_page("app_pages/history.py").run()
    assert_ok(app)
    assert any("conflicting corrections" in w.value and md("doc-0.txt") in w.value for w in app.warning)
    [conflict] = store.correction_conflicts()
    key = conflict_key(conflict)
    choice = app.radio(key=f"history:settle:{key}")
    assert choice.options == [md(answer_title(conflict, a)) for a in ["politics", "sport"]]
    assert choice.value == "politics"  # the latest answer preselected; nothing saved yet
    assert md("desk-v1") in choice.options[0] and "the latest" in choice.options[0]
    assert [c.label for c in store.list_corrections(zero_shot)] == ["sport"]
    app.checkbox(key="history:conflicts").check().run()
    assert "2 predictions" in app.number_input(key="history:page").label
    app.checkbox(key="history:conflicts").uncheck().run()

    app.button(key=f"history:settle-button:{key}").click().run()
    assert_ok(app)
    assert any(md("Settled doc-0.txt") in s.value and "politics" in s.value for s in app.success)
    assert not any("conflicting corrections" in w.value for w in app.warning)
    assert store.correction_conflicts() == []
    assert [c.label for c in store.list_corrections(zero_shot)] == ["sport", "politics"]
    assert [c.label for c in store.list_corrections(trained)] == ["politics"]
    # The Train page's export of the zero-shot corrections now trains doc-0 as 'politics'.
    path = tmp_path / "train.jsonl"
    assert store.export_corrections_training_set(path, model="zs-enc", labels=list(LABELS)) == 6
    rows = {r["name"]: r["label"] for r in map(json.loads, path.read_text().splitlines())}
    assert rows["doc-0.txt"] == "politics"


def test_the_older_answer_can_be_kept_and_a_label_set_since_is_never_overruled(app: AppTest) -> None:
    app.run()
    store = get_store()
    zero_shot, trained = _cross_model_conflict(store)
    app.switch_page("app_pages/history.py").run()
    [conflict] = store.correction_conflicts()
    key = conflict_key(conflict)
    assert answers(conflict) == ["politics", "sport"]
    app.radio(key=f"history:settle:{key}").set_value("sport").run()
    # Someone labels desk-v1's prediction again after the page was drawn.
    store.add_correction(trained, "politics", note="checked the source")
    app.button(key=f"history:settle-button:{key}").click().run()
    assert_ok(app)
    assert any("checked the source" in e.value for e in app.error)
    assert [c.label for c in store.list_corrections(trained)] == ["politics", "politics"]
    # The page now shows what is in force; settling again keeps the older answer, as asked.
    app.radio(key=f"history:settle:{key}").set_value("sport").run()
    app.button(key=f"history:settle-button:{key}").click().run()
    assert_ok(app)
    assert store.correction_conflicts() == []
    assert store.get_prediction(trained).final_labels == ["sport"]
    assert store.get_prediction(zero_shot).final_labels == ["sport"]
