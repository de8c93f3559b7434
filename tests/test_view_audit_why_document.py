"""The "Why this label" document view: bounded like every other document view, and a sentence
a window cut through is highlighted only where the model read it."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from longbert import load_classifier
from longbert.document import as_document
from longbert.explain import Explanation, SentenceScore, document_html
from longbert.store import get_store
from longbert.ui import explanations as why
from longbert.ui.highlight import MAX_RENDER_CHARS, UNSEEN_COLOR
from longbert.ui.service import classify_and_log
from longbert.ui.service import load_model as load_uncached
from tests.helpers.app_testing import assert_ok, fresh_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def marked(markup: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r"<mark[^>]*>(.*?)</mark>", markup, re.S)]


def greyed(markup: str) -> list[str]:
    pattern = rf'<span style="color:{UNSEEN_COLOR}"[^>]*>(.*?)</span>'
    return [html.unescape(m) for m in re.findall(pattern, markup, re.S)]


def explanation_of(sentences: list[SentenceScore]) -> Explanation:
    return Explanation("occlusion", "a", 0.9, "truncate", {}, sentences)


def test_a_huge_document_is_cut_at_the_render_limit_with_a_note() -> None:
    text = "Fish & chips <b>cost</b> more. " * 40_000  # 1.24M characters
    e = explanation_of([SentenceScore((0, 30), 0.1), SentenceScore((len(text) - 31, len(text) - 1), -0.1)])
    page = document_html(text, e)
    assert len(page) < 2 * MAX_RENDER_CHARS  # escaping "&" and "<b>" grows the text a little
    assert f"{len(text) - MAX_RENDER_CHARS:,} more characters not shown" in page
    assert visible(page).startswith(text[:MAX_RENDER_CHARS])
    assert marked(page) == [text[:30]]  # the sentence past the cut is not drawn
    assert "<b>" not in page


def test_a_sentence_straddling_the_cut_is_marked_up_to_it() -> None:
    text = "a" * 50 + " Long sentence. " + "b" * 50
    e = explanation_of([SentenceScore((51, 66), 0.2)])
    page = document_html(text, e, max_chars=60)
    assert marked(page) == [text[51:60]]


def test_only_the_read_part_of_a_cut_sentence_is_highlighted() -> None:
    text = "Intro line here. Then a long sentence the window cut right through. Final sentence."
    cut = text.index("right")
    read = [(0, cut - 1)]  # the model read up to "cut" (the truncation's head)
    e = explanation_of([SentenceScore((0, 16), 0.1), SentenceScore((17, 67), 0.3, coverage=0.75)])
    page = document_html(text, e, read=read)
    assert marked(page) == ["Intro line here.", text[17 : cut - 1]]
    assert greyed(page) == [text[cut - 1 : 67]]
    assert "75% of this sentence read" in page
    assert visible(page) == text


def test_without_read_spans_the_title_says_how_much_was_read() -> None:
    text = "Intro line here. Then a long sentence the window cut right through."
    e = explanation_of([SentenceScore((17, 67), -0.3, coverage=0.75)])
    page = document_html(text, e)
    assert marked(page) == [text[17:67]]
    assert re.search(r'<mark[^>]*title="-0.3000 · 75% of this sentence read"', page)


def test_read_spans_that_miss_a_sentence_still_mark_it() -> None:
    """Spans of another reading (a re-tokenised old prediction) must not make a score vanish."""
    text = "First sentence. Second sentence."
    e = explanation_of([SentenceScore((16, 32), 0.3)])
    assert marked(document_html(text, e, read=[(0, 15)])) == [text[16:32]]


def test_an_estimated_score_is_shown_as_one_in_both_views() -> None:
    from longbert.explain.html import top_sentences_html

    text = "First sentence. Second sentence."
    e = explanation_of([SentenceScore((0, 15), 0.3), SentenceScore((16, 32), 0.1, estimated=True)])
    tops = top_sentences_html(text, e)
    assert "(+0.3000)" in tops and "(≈+0.1000 estimated)" in tops
    assert re.search(r'<mark[^>]*title="≈\+0.1000 estimated"', document_html(text, e))


# -- the app passes the prediction's read spans ------------------------------------------------

TEXT = (
    "The central bank raised interest rates again to fight inflation. "
    "Fans celebrated in the streets long after the final whistle while the band played on and on "
    "and the police closed the roads around the stadium for the night. "
    "Bond yields climbed as investors sold government debt."
)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: Path) -> Iterator[AppTest]:
    shutil.copytree(built, tmp_path / "models" / "tiny-news")
    yield fresh_app(tmp_path, monkeypatch, timeout=180)


def test_history_why_view_greys_the_unread_tail_of_a_cut_sentence(app: AppTest, tmp_path: Path) -> None:
    app.run()
    store = get_store()
    model = load_classifier(tmp_path / "models" / "tiny-news", device="cpu")
    document = as_document(TEXT, name="cut.txt", source="paste")
    strategy = {"name": "truncate", "params": {"mode": "head", "max_tokens": 20}}
    prediction, pid = classify_and_log(store, model, document, strategy)
    loader = lambda key, labels: load_uncached(key, labels, device="cpu")  # noqa: E731
    why.explain_and_store(store, pid, prediction, document, "occlusion", loader)
    ((_, read_end),) = prediction.spans
    assert read_end < TEXT.index("Bond")  # the head cuts the second sentence

    app.switch_page("app_pages/history.py").run()
    app.selectbox(key="history:open").set_value(pid).run()
    assert_ok(app)
    (page,) = [h.proto.body for h in app.html if "<mark" in h.proto.body]
    assert all(TEXT.index(m) + len(m) <= read_end for m in marked(page))
    assert TEXT[read_end : TEXT.index(" Bond")].strip() in "".join(greyed(page))
    assert "of this sentence read" in page
