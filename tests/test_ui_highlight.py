"""Highlight HTML: everything escaped, bounded markup, spans and scores drawn where they belong."""

from __future__ import annotations

import re

import numpy as np

from longbert.results import SegmentScore
from longbert.ui.highlight import (
    attention_html,
    attention_legend,
    paint,
    seen_html,
    seen_legend,
    segments_html,
)

EVIL = 'Hello <script>alert("x")</script> & <b onclick="steal()">bold</b> world.'


def _visible_text(markup: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_seen_html_escapes_markup_and_keeps_text() -> None:
    out = seen_html(EVIL, [(0, 20)])
    assert "<script>" not in out and "<b onclick" not in out
    assert "&lt;script&gt;" in out
    assert _visible_text(out) == EVIL
    assert "seen by the model" in out and "not seen" in out


def test_segments_html_handles_overlapping_windows() -> None:
    text = "abcdefghijklmnopqrstuvwxyz"
    windows = [
        SegmentScore("window", (0, 12), 0.9, weight=0.5),
        SegmentScore("window", (8, 20), 0.2, weight=0.5),
    ]
    out = segments_html(text, windows)
    assert _visible_text(out) == text
    # the overlap is covered by both windows and says so
    assert "window 1: score 0.900" in out and "window 2: score 0.200" in out
    assert "not seen" in out  # 20..26 is outside both windows


def test_segments_html_greys_unselected_sentences() -> None:
    text = "First one. Second one. Third one."
    segs = [
        SegmentScore("sentence", (0, 10), 0.5, selected=True),
        SegmentScore("sentence", (11, 22), 0.1, selected=False),
        SegmentScore("sentence", (23, 33), 0.4, selected=True),
    ]
    out = segments_html(text, segs)
    assert "not selected" in out
    assert _visible_text(out) == text


def test_segments_html_without_segments_falls_back_to_spans() -> None:
    assert segments_html("abc def", [], spans=[(0, 3)]) == seen_html("abc def", [(0, 3)])


def test_attention_html_is_bounded_for_long_documents() -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}<x>" for i in range(10_000)]
    text = " ".join(words)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    spans = np.stack([starts, starts + [len(w) for w in words]], axis=1)
    scores = rng.random(10_000) ** 8
    out = attention_html(text, spans, scores, max_marks=500)
    assert out.count("<span") <= 500
    assert "<x>" not in out and "&lt;x&gt;" in out
    assert _visible_text(out) == text


def test_attention_html_merges_neighbours_and_marks_the_top_word() -> None:
    text = "alpha beta gamma delta"
    spans = np.array([[0, 5], [6, 10], [11, 16], [17, 22]])
    out = attention_html(text, spans, np.array([1.0, 1.0, 0.0, 0.05]))
    # alpha and beta share a bucket and merge; delta is in the lowest bucket and stays plain
    assert out.count("<span") == 1
    assert ">alpha beta</span>" in out


def test_attention_html_tolerates_empty_and_nan_input() -> None:
    assert _visible_text(attention_html("text", np.zeros((0, 2)), np.zeros(0))) == "text"
    out = attention_html("a b", np.array([[0, 1], [2, 3]]), np.array([np.nan, 0.5]))
    assert _visible_text(out) == "a b"


def test_paint_cuts_long_text_with_a_note() -> None:
    out = paint("x" * 50, [], max_chars=10)
    assert "40 more characters" in out


def test_attention_html_greys_what_the_model_did_not_read() -> None:
    text = "alpha beta gamma delta"
    spans = np.array([[0, 5], [6, 10], [11, 16], [17, 22]])
    scores = np.array([1.0, 0.0, 0.0, 0.0])  # beta read but ignored; gamma, delta never read
    out = attention_html(text, spans, scores, seen=[(0, 10)])
    assert _visible_text(out) == text
    assert out.count("not read by the model") == 1 and "gamma delta</span>" in out
    assert ">beta" not in out  # read with no attention: plain text, unlike the unread tail
    assert "not read" not in attention_html(text, spans, scores)
    assert "not read" in attention_legend(True) and "not read" not in attention_legend(False)
    assert "not seen" in seen_legend(True) and "not seen" not in seen_legend(False)
