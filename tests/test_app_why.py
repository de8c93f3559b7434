"""The "Why this label" section through Streamlit's AppTest with a tiny checkpoint: Classify
computes and keeps an explanation; History shows a stored one at once, computes another, and
says clearly when the model is gone; Compare has the section in each strategy's column.
Document text with markup is shown escaped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert import load_classifier
from longbert.document import as_document
from longbert.store import get_store
from longbert.ui import explanations as why
from longbert.ui.service import classify_and_log
from longbert.ui.service import load_model as load_uncached
from tests.helpers.app_testing import assert_ok, fresh_app

TEXT = (
    "The central bank raised interest rates again to fight inflation. "
    "Fans celebrated in the streets long after the final whistle. "
    "<script>alert('x')</script> Bond yields climbed as investors sold government debt. "
    "The football club won the championship after a dramatic penalty shoot-out."
)



@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Path) -> Iterator[AppTest]:
    """The app on a fresh database, with the tiny checkpoint ``tiny-news`` in its models folder."""
    shutil.copytree(built, tmp_path / "models" / "tiny-news")
    at = fresh_app(tmp_path, monkeypatch, timeout=180)
    yield at


def model_key(tmp_path: Path) -> str:
    return str((tmp_path / "models" / "tiny-news").resolve())


def html_bodies(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.html]


def assert_escaped(at: AppTest) -> None:
    bodies = html_bodies(at)
    assert bodies and all("<script>" not in b for b in bodies)
    assert any("&lt;script&gt;" in b and "<mark" in b for b in bodies)  # the highlighted document


def test_classify_explains_the_new_prediction_and_keeps_it(app: AppTest, tmp_path: Path) -> None:
    app.run()
    app.selectbox(key="classify:model").set_value(model_key(tmp_path)).run()
    app.text_area(key="classify:text").input(TEXT)
    app.button(key="classify:go").click().run()
    assert_ok(app)
    assert "Why this label" in [s.value for s in app.subheader]
    assert app.segmented_control(key="classify:why-method").value == "occlusion"
    assert any("Not explained with occlusion yet" in i.value for i in app.info)
    assert any("removed in turn" in c.value for c in app.caption)  # what the method means

    app.button(key="classify:why-go").click().run()
    assert_ok(app)
    assert any("Explained in" in s.value and "saved with prediction #1" in s.value for s in app.success)
    assert app.button(key="classify:why-go").label == "Explain again"
    assert any(c.value.startswith("Occlusion of '") for c in app.caption)
    assert_escaped(app)
    (stored,) = get_store().explanations_for(1)
    assert stored.method == "occlusion" and len(stored.sentences) == 4

    # Another method; the first one stays stored beside it.
    app.segmented_control(key="classify:why-method").set_value("attention").run()
    assert any("Saved already: Occlusion" in i.value for i in app.info)
    app.button(key="classify:why-go").click().run()
    assert_ok(app)
    assert [e.method for e in get_store().explanations_for(1)] == ["occlusion", "attention"]
    assert any("never negative" in c.value for c in app.caption)  # attention has no "against"


def saved_prediction(tmp_path: Path) -> tuple[int, str]:
    """A prediction of the tiny model in the app's database, with an occlusion explanation."""
    store = get_store()
    model = load_classifier(tmp_path / "models" / "tiny-news", device="cpu")
    document = as_document(TEXT, name="markup.txt", source="paste")
    prediction, pid = classify_and_log(store, model, document)
    loader = lambda key, labels: load_uncached(key, labels, device="cpu")  # noqa: E731
    why.explain_and_store(store, pid, prediction, document, "occlusion", loader)
    return pid, prediction.label


def test_history_shows_stored_explanations_computes_more_and_survives_a_deleted_model(
    app: AppTest, tmp_path: Path
) -> None:
    app.run()
    pid, label = saved_prediction(tmp_path)
    app.switch_page("app_pages/history.py").run()
    app.selectbox(key="history:open").set_value(pid).run()
    assert_ok(app)
    (table,) = [d.value for d in app.dataframe if "explained" in d.value.columns]
    assert table.loc[table["id"] == pid, "explained"].tolist() == ["Occlusion"]  # as Why names it
    prefix = f"history:{pid}"
    # The stored explanation shows at once, without computing anything.
    assert app.button(key=f"{prefix}:why-go").label == "Explain again"
    assert any(c.value.startswith(f"Occlusion of '{label}'") for c in app.caption)
    assert_escaped(app)

    app.segmented_control(key=f"{prefix}:why-method").set_value("gradient_x_input").run()
    app.button(key=f"{prefix}:why-go").click().run()
    assert_ok(app)
    assert any("Explained in" in s.value for s in app.success)
    assert [e.method for e in get_store().explanations_for(pid)] == ["occlusion", "gradient_x_input"]

    # The model is deleted: said clearly, nothing can be computed, stored explanations stay.
    shutil.rmtree(tmp_path / "models" / "tiny-news")
    app.segmented_control(key=f"{prefix}:why-method").set_value("occlusion").run()
    assert_ok(app)
    assert any("'tiny-news'" in w.value and "no longer in the models folder" in w.value for w in app.warning)
    assert app.button(key=f"{prefix}:why-go").disabled
    assert any(c.value.startswith(f"Occlusion of '{label}'") for c in app.caption)
    app.segmented_control(key=f"{prefix}:why-method").set_value("integrated_gradients").run()
    assert any("Not explained with integrated gradients yet." in i.value for i in app.info)
    assert len(get_store().explanations_for(pid)) == 2


def test_compare_has_the_section_in_each_column(app: AppTest, tmp_path: Path) -> None:
    app.run()
    app.switch_page("app_pages/compare.py").run()
    app.selectbox(key="compare:model").set_value(model_key(tmp_path)).run()
    app.multiselect(key="compare:strategies").set_value(["truncate", "key_sentences"]).run()
    app.text_area(key="compare:text").input(TEXT)
    app.button(key="compare:go").click().run()
    assert_ok(app)
    ids = sorted(r.id for r in get_store().history().rows)
    assert len(ids) == 2
    app.button(key=f"compare:{ids[1]}:why-go").click().run()
    assert_ok(app)
    assert [e.strategy for e in get_store().explanations_for(ids[1])] == ["key_sentences"]
    assert get_store().explanations_for(ids[0]) == []
    assert_escaped(app)
