"""A model name with a backtick shows whole in a prediction's view: ``render_prediction`` put the
name in a plain code span (`` `name` ``), which a backtick inside ends early, the rest then
drawn as Markdown (a model name can hold one: a Label Studio import takes any model version,
and a model folder's name any character but ``/``). Checked with a CommonMark renderer
(markdown-it, as Streamlit's renderer follows CommonMark)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from longbert.store import get_store
from longbert.ui.formatting import code_span
from tests.helpers.app_testing import assert_ok, fresh_app
from tests.helpers.store_factories import make_document, make_prediction

#: Names that a plain code span breaks, or that need the padding rule (a backtick at an end).
NAMES = ["news `v2` *draft*", "a`b", "``x", "x`", "`", "a ``` b `", "[link](http://x) _y_ $z$",
         "plain-name", "two\nlines"]


def _code_texts(markdown: str) -> list[str]:
    """The texts of the code spans ``markdown`` renders to (CommonMark)."""
    rendered = MarkdownIt("commonmark").renderInline(markdown)
    return [html.unescape(text) for text in re.findall(r"<code>(.*?)</code>", rendered, flags=re.S)]


@pytest.mark.parametrize("name", NAMES)
def test_a_code_span_shows_the_text_whole(name: str) -> None:
    expected = " ".join(name.split())  # a code span draws a newline as a space
    assert _code_texts(f"Model {code_span(name)} · strategy x") == [expected]
    rendered = MarkdownIt("commonmark").renderInline(f"Model {code_span(name)} · strategy x")
    assert rendered.endswith(" · strategy x")


def test_an_empty_text_is_still_a_code_span() -> None:
    assert _code_texts(code_span("")) == [" "]


def test_the_prediction_view_shows_a_model_name_with_backticks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fresh_app(tmp_path, monkeypatch)
    app.run()
    document = make_document(0, name="doc.txt")
    name = "news `v2` *draft*"
    prediction = make_prediction(document, model=name, strategy="head`tail")
    pid = get_store().save_prediction(prediction, document)
    app.switch_page("app_pages/history.py").run()
    app.selectbox(key="history:open").set_value(pid).run()
    assert_ok(app)
    (caption,) = [c.value for c in app.caption if c.value.startswith("Model ")]
    assert _code_texts(caption) == [name, "head`tail"]
    assert "<em>" not in MarkdownIt("commonmark").renderInline(caption)
