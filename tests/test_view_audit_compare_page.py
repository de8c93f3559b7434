"""The Compare page shows results only while they describe what is on screen: a failed
Compare, an edited text, other strategies or another model take the old results away."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.app_testing import assert_ok, fresh_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FIRST = "FIRST DOCUMENT about sport. The team won the final after extra time."
SECOND = "SECOND DOCUMENT about politics. Parliament passed the budget law."


@pytest.fixture
def app(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    """The Compare page on a fresh database, the tiny checkpoint chosen, two quick strategies."""
    at = fresh_app(tmp_path, monkeypatch, timeout=180)
    shutil.copytree(built, tmp_path / "models" / "tiny-news")
    at.run()
    at.switch_page("app_pages/compare.py").run()
    at.selectbox(key="compare:model").set_value(str((tmp_path / "models" / "tiny-news").resolve())).run()
    at.multiselect(key="compare:strategies").set_value(["truncate", "chunk"]).run()
    assert_ok(at)
    yield at


def shown_html(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.html)


def compare(at: AppTest, text: str) -> None:
    at.text_area(key="compare:text").input(text)
    at.button(key="compare:go").click().run()
    assert_ok(at)


def assert_results_of(at: AppTest, marker: str) -> None:
    assert len(at.dataframe) == 1 and marker in shown_html(at)


def assert_no_results(at: AppTest) -> None:
    assert not at.dataframe and FIRST not in shown_html(at)
    assert any("press **Compare**" in i.value for i in at.info)


def test_a_failed_compare_takes_the_previous_results_away(app: AppTest) -> None:
    compare(app, FIRST)
    assert_results_of(app, "FIRST DOCUMENT")
    compare(app, "   ")
    assert any("empty" in e.value.lower() or "no text" in e.value.lower() for e in app.error)
    assert_no_results(app)


def test_an_edited_text_hides_results_until_compare_is_pressed_again(app: AppTest) -> None:
    compare(app, FIRST)
    app.text_area(key="compare:text").input(SECOND).run()
    assert_ok(app)
    assert_no_results(app)
    app.button(key="compare:go").click().run()
    assert_results_of(app, "SECOND DOCUMENT")


def test_other_strategies_or_parameters_hide_the_results(app: AppTest) -> None:
    compare(app, FIRST)
    app.multiselect(key="compare:strategies").set_value(["truncate"]).run()
    assert_no_results(app)
    compare(app, FIRST)
    assert_results_of(app, "FIRST DOCUMENT")
    app.selectbox(key="compare:truncate:mode").set_value("head").run()
    assert_ok(app)
    assert_no_results(app)


def test_another_model_hides_the_results(app: AppTest) -> None:
    compare(app, FIRST)
    app.selectbox(key="compare:model").set_value("zero-shot").run()
    assert_ok(app)
    assert_no_results(app)
