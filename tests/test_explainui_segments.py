"""Chunk windows are named as the model read them, not by segment.

Chunk's head+tail window reads two separate runs of text, so it has two segments: they carry
the window's index and are named "window 1 (head)" / "window 1 (tail)"; the window-score chart
has one bar per window. Predictions kept without the index (stored before it existed, or by a
store that does not keep it) are numbered the same way.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from helpers.classifier_factories import save_tiny_encoder

from longbert import LongBertClassifier
from longbert.document import as_document
from longbert.results import Prediction, SegmentScore, segment_windows
from longbert.store import Store
from longbert.ui import charts
from longbert.ui.highlight import segment_names, segments_html

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SENTENCES = ["Alpha bank raised rates.", "Beta fans celebrated.", "Gamma yields climbed.", "Delta club won."]
TEXT = " ".join(f"S{i:03d} " + SENTENCES[i % 4] for i in range(200))
HEAD_TAIL = {"window": 32, "stride": 16, "head_tail": True, "max_chunks": 3}
SPREAD = {"window": 32, "stride": 32, "max_chunks": 3}
HEAD_TAIL_NAMES = ["window 1 (head)", "window 1 (tail)", "window 2", "window 3", "window 4"]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("enc"), hidden=32, heads=2)


def predict(encoder: Path, params: dict) -> Prediction:
    torch.manual_seed(0)
    model = LongBertClassifier.from_encoder(
        encoder, labels=["a", "b"], strategy={"name": "chunk", "params": params}, device="cpu"
    )
    prediction = model.eval().predict([as_document(TEXT, name="doc.txt", source="paste")])[0]
    assert isinstance(prediction, Prediction)
    return prediction


def hover_titles(markup: str) -> set[str]:
    return {part for title in re.findall(r'title="([^"]*)"', markup) for part in title.split("; ")}


def test_head_tail_runs_carry_their_window(encoder: Path) -> None:
    prediction = predict(encoder, HEAD_TAIL)
    segments = prediction.segment_scores
    assert [s.window for s in segments] == [0, 0, 1, 2, 3]
    assert segment_names(segments) == HEAD_TAIL_NAMES
    # One pooling weight per window (mean pooling: a quarter each), whatever its runs.
    weights = {s.window: s.weight for s in segments}
    assert sum(weights.values()) == pytest.approx(1.0)
    titles = hover_titles(segments_html(TEXT, segments, prediction.spans))
    assert any(t.startswith("window 1 (head): score") for t in titles)
    assert any(t.startswith("window 1 (tail): score") for t in titles)
    assert any(t.startswith("window 4: score") for t in titles)
    assert not any(t.startswith("window 5") for t in titles)


def test_the_chart_has_one_bar_per_window(encoder: Path) -> None:
    prediction = predict(encoder, HEAD_TAIL)
    (bars,) = charts.segment_scores_figure(TEXT, prediction.segment_scores).data
    assert list(bars.x) == [1, 2, 3, 4]
    head, tail = prediction.segment_scores[:2]
    assert bars.y[0] == head.score
    first = bars.hovertext[0]
    assert first.startswith("window 1 (head + tail): ")
    assert "<br>head: S000" in first and "<br>tail: " in first
    assert TEXT[tail.span[0] : tail.span[1]][:20] in first
    assert bars.hovertext[1].startswith("window 2: ") and "<br>head" not in bars.hovertext[1]


def test_windows_are_named_alike_after_the_store(encoder: Path, tmp_path: Path) -> None:
    prediction = predict(encoder, HEAD_TAIL)
    document = as_document(TEXT, name="doc.txt", source="paste")
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    try:
        back = store.get_prediction(store.save_prediction(prediction, document)).prediction
    finally:
        store.close()
    assert [s.window for s in back.segment_scores] == [s.window for s in prediction.segment_scores]
    # Without the index (a row stored before it was kept): recovered from the segments' order.
    stripped = [dataclasses.replace(s, window=None) for s in back.segment_scores]
    for segments in (back.segment_scores, stripped):
        assert segment_windows(segments) == [0, 0, 1, 2, 3]
        assert segment_names(segments) == HEAD_TAIL_NAMES
        assert list(charts.segment_scores_figure(TEXT, segments).data[0].x) == [1, 2, 3, 4]


def test_windows_without_head_tail_are_one_each(encoder: Path) -> None:
    prediction = predict(encoder, SPREAD)
    for segments in (
        prediction.segment_scores,
        [dataclasses.replace(s, window=None) for s in prediction.segment_scores],
    ):
        assert segment_names(segments) == ["window 1", "window 2", "window 3"]
        assert list(charts.segment_scores_figure(TEXT, segments).data[0].x) == [1, 2, 3]


def test_old_segments_are_numbered_one_per_window() -> None:
    """Stored before windows were split into runs: the head+tail window was one segment over
    the whole document (it overlaps the next), so every segment is a window of its own."""
    old = [
        SegmentScore("window", (0, 1000), 0.7, True, 0.25),
        SegmentScore("window", (0, 300), 0.7, True, 0.25),
        SegmentScore("window", (350, 650), 0.6, True, 0.25),
        SegmentScore("window", (700, 1000), 0.7, True, 0.25),
    ]
    assert segment_names(old) == ["window 1", "window 2", "window 3", "window 4"]
    # Two windows that do not overlap and score alike are still two windows when the second
    # is not the last: only a head+tail window's tail ends where the last window does.
    apart = [
        SegmentScore("window", (0, 100), 0.5, True, 1 / 3),
        SegmentScore("window", (400, 500), 0.5, True, 1 / 3),
        SegmentScore("window", (900, 1000), 0.5, True, 1 / 3),
    ]
    assert segment_names(apart) == ["window 1", "window 2", "window 3"]
    sentences = [SegmentScore("sentence", (0, 10), 0.5), SegmentScore("sentence", (11, 20), 0.1, False)]
    assert segment_names(sentences) == ["sentence 1", "sentence 2"]
    assert list(charts.segment_scores_figure("x" * 20, sentences).data[0].x) == [1, 2]
