"""Plotly figures build from realistic inputs (and degenerate ones) without errors."""

from __future__ import annotations

import numpy as np

from longbert.results import FullAttention, SegmentScore
from longbert.ui import charts


def test_probability_budget_and_segment_figures() -> None:
    fig = charts.probability_figure({"a": 0.7, "b": 0.2, "c": 0.1}, ["a"])
    assert list(fig.data[0].y) == ["c", "b", "a"]  # highest on top
    assert fig.data[0].marker.color[-1] == charts.ACCENT
    budget = charts.token_budget_figure(510, 3214)
    assert budget.layout.title.text == "510 of 3,214 tokens used"
    assert budget.data[1].x == (2704,)
    text = "one two three four"
    segs = [SegmentScore("window", (0, 7), 0.9, True, 0.5), SegmentScore("window", (4, 18), 0.3)]
    assert len(charts.segment_scores_figure(text, segs).data[0].x) == 2


def test_attention_grid_is_bounded_and_labelled() -> None:
    text = " ".join(f"w{i}" for i in range(30_000))
    starts = np.array([text.index(f"w{i} ") if i < 29_999 else text.rindex("w") for i in range(3)])
    spans = np.stack([starts, starts + 2], axis=1)
    fig = charts.attention_grid_figure(text, spans, np.array([0.1, 0.5, 0.2]), per_row=2)
    assert fig.data[0].z.shape == (2, 2) and fig.data[0].customdata[0][0] == "w0"
    many = np.zeros((20_000, 2), dtype=np.int64)
    big = charts.attention_grid_figure("x", many, np.zeros(20_000), per_row=20, max_units=12_000)
    assert big.data[0].z.shape == (600, 20)


def test_full_attention_history_compare_and_metrics_figures() -> None:
    weights = np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float16)
    full = FullAttention(0, weights, np.array([-1, 0, 1, -1]), ["[CLS]", "a", "b", "[SEP]"])
    mean = charts.full_attention_figure(full, 1, None)
    np.testing.assert_allclose(mean.data[0].z, weights[1].astype(np.float32).mean(0), rtol=1e-6)
    assert charts.full_attention_figure(full, 0, 2).data[0].z.shape == (4, 4)
    dist = charts.label_distribution_figure([
        {"period": "2026-01-01", "label": "a", "count": 2},
        {"period": "2026-01-02", "label": "b", "count": 1},
    ])
    assert [t.name for t in dist.data] == ["a", "b"] and list(dist.data[0].y) == [2, 0]
    assert len(charts.compare_figure({"chunk": {"a": 0.6}, "sparse": {"a": 0.4}}).data) == 2
    cost = charts.cost_figure([{"strategy": "chunk", "used_tokens": 900, "latency_ms": 20.0}])
    assert len(cost.data) == 2
    assert len(charts.metrics_figure([{"name": "m", "metrics": {"f1": 0.5}}], ["f1"]).data) == 1
