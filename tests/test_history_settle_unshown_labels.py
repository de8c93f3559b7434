"""History's Settle never says a text is settled while another prediction of it, not shown,
carries a different person's label (audit 33, 2026-12-08: the message said "'sport' is now the
label in force on every prediction of it" while #3 still said 'economy'). The page says the
conflict changed, shows it again with every answer, and a second Settle settles it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert.store import get_store
from longbert.ui.conflicts import answer_title, conflict_key
from longbert.ui.formatting import md
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

LABELS = ("sport", "politics", "economy")


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    yield fresh_app(tmp_path, monkeypatch)


def test_settle_with_a_label_not_shown_says_the_conflict_changed_then_settles(app: AppTest) -> None:
    app.run()
    store = get_store()
    document = make_document(0)

    def predict(model: str, answer: str, zero_shot: bool = False) -> int:
        prediction = make_prediction(document, model=model, label="sport", labels=LABELS, zero_shot=zero_shot)
        prediction_id = store.save_prediction(prediction, document, label_set="Desk")
        store.add_correction(prediction_id, answer)
        return prediction_id

    first, second = predict("zs", "sport", zero_shot=True), predict("desk-v1", "politics")
    app.switch_page("app_pages/history.py").run()
    [conflict] = store.correction_conflicts()
    key = conflict_key(conflict)
    app.radio(key=f"history:settle:{key}").set_value("sport").run()
    third = predict("desk-v2", "economy")  # after the page was drawn

    app.button(key=f"history:settle-button:{key}").click().run()
    assert_ok(app)
    assert not app.success
    [error] = app.error
    # The message is Markdown-escaped (md): names and labels show as typed.
    assert error.value.startswith(md("The conflict over doc-0.txt is not the one shown here"))
    assert md(f"otherwise than 'sport' (#{third} desk-v2: 'economy', from ") in error.value
    assert md("Nothing was saved") in error.value
    assert [c.label for c in store.list_corrections(second)] == ["politics"]
    [fresh] = store.correction_conflicts()
    choice = app.radio(key=f"history:settle:{key}")
    assert choice.options == [md(answer_title(fresh, a)) for a in ["economy", "politics", "sport"]]

    choice.set_value("sport").run()
    app.button(key=f"history:settle-button:{key}").click().run()
    assert_ok(app)
    [success] = app.success
    assert success.value == md(
        "Settled doc-0.txt: people's labels on it under this label set now all say 'sport' "
        f"(2 new corrections, on #{second}, #{third}; their earlier labels stay in their history)."
    )
    assert store.correction_conflicts() == []
    assert [store.get_prediction(p).final_labels for p in (first, second, third)] == [["sport"]] * 3
