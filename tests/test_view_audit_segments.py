""" "What the model saw" never shows unread text as read: chunk's head+tail window is two
segments, and the view intersects segments with the prediction's read spans."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder

from longbert import LongBertClassifier
from longbert.results import Prediction, SegmentScore
from longbert.ui.highlight import UNSEEN_COLOR, segments_html

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SENTENCES = ["Alpha bank raised rates.", "Beta fans celebrated.", "Gamma yields climbed.", "Delta club won."]
TEXT = " ".join(f"S{i:03d} " + SENTENCES[i % 4] for i in range(200))
HEAD_TAIL = {"window": 32, "stride": 16, "head_tail": True, "max_chunks": 3}


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("enc"), hidden=32, heads=2)


def predict(encoder: Path, params: dict) -> Prediction:
    torch.manual_seed(0)
    model = LongBertClassifier.from_encoder(
        encoder, labels=["a", "b"], strategy={"name": "chunk", "params": params}, device="cpu"
    )
    prediction = model.eval().predict([TEXT])[0]
    assert isinstance(prediction, Prediction)
    return prediction


def grey_chars(markup: str) -> int:
    """Characters the view paints grey ("not seen" / "not selected")."""
    pattern = rf'<span style="color:{UNSEEN_COLOR}"[^>]*>(.*?)</span>'
    return sum(len(html.unescape(part)) for part in re.findall(pattern, markup, re.S))


def read_chars(prediction: Prediction) -> int:
    return sum(end - start for start, end in prediction.spans)


def inside_read_spans(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


def test_head_tail_window_is_one_segment_per_contiguous_run(encoder: Path) -> None:
    prediction = predict(encoder, HEAD_TAIL)
    windows = [s for s in prediction.segment_scores if s.kind == "window"]
    # 3 spread windows + the head+tail view, which reads two separate runs of text.
    assert len(windows) == 5
    assert all(inside_read_spans(s.span, prediction.spans) for s in windows)
    head, tail = windows[0], windows[1]
    assert head.span[0] == 0 and tail.span[1] == len(TEXT) and head.span[1] < tail.span[0]
    assert (head.score, head.weight) == (tail.score, tail.weight)  # one window, two places


@pytest.mark.parametrize("params", [HEAD_TAIL, {"window": 32, "stride": 32, "max_chunks": 3}])
def test_seen_view_greys_exactly_the_unread_text(encoder: Path, params: dict) -> None:
    prediction = predict(encoder, params)
    assert prediction.used_tokens < prediction.total_tokens
    markup = segments_html(TEXT, prediction.segment_scores, prediction.spans)
    assert grey_chars(markup) == len(TEXT) - read_chars(prediction)


def test_old_stored_whole_document_window_renders_unread_text_grey() -> None:
    """Predictions stored before the fix kept one segment from the head to the tail."""
    text = "head text. " + "middle never read. " * 20 + "tail text."
    read = [(0, 10), (len(text) - 10, len(text))]
    old_segments = [SegmentScore("window", (0, len(text)), 0.7, True, 0.5)]
    markup = segments_html(text, old_segments, read)
    assert grey_chars(markup) == len(text) - 20
    assert "window 1: score 0.700" in markup


def test_unselected_key_sentences_still_say_not_selected_with_read_spans() -> None:
    text = "First one. Second one. Third one."
    segments = [
        SegmentScore("sentence", (0, 10), 0.5, selected=True),
        SegmentScore("sentence", (11, 22), 0.1, selected=False),
        SegmentScore("sentence", (23, 33), 0.4, selected=True),
    ]
    markup = segments_html(text, segments, [(0, 10), (23, 33)])
    assert 'title="not selected">Second one.</span>' in markup
    assert grey_chars(markup) == len("Second one.") + 2  # with the spaces between sentences
