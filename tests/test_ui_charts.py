"""Plotly figures build from realistic inputs (and degenerate ones) without errors."""

from __future__ import annotations

import numpy as np

from longbert.results import AttentionSummary, FullAttention, Prediction, SegmentScore
from longbert.ui import charts
from longbert.ui.coverage import Coverage, coverage, units_read

EVIL = '<i>evil</i> <b>bold</b> <a href="https://x.example">link</a>'


def test_probability_budget_and_segment_figures() -> None:
    fig = charts.probability_figure({"a": 0.7, "b": 0.2, "c": 0.1}, ["a"])
    assert list(fig.data[0].y) == ["c", "b", "a"]  # highest on top
    assert fig.data[0].marker.color[-1] == charts.ACCENT
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


def _prediction(strategy: str, params: dict, used: int, total: int, **kw: object) -> Prediction:
    return Prediction(
        document_name="d", document_sha256="0" * 64, label="a", probabilities={"a": 1.0},
        labels=["a"], model_name="m", strategy=strategy, strategy_params=params,
        total_tokens=total, used_tokens=used, spans=kw.pop("spans", [(0, 10)]),  # type: ignore[arg-type]
        segment_scores=[], attention=kw.pop("attention", None), latency_ms=1.0,  # type: ignore[arg-type]
    )


def _rects(fig: object, name: str) -> list[tuple[float, float]]:
    return [(s.x0, s.x1) for s in fig.layout.shapes if s.name == name]  # type: ignore[attr-defined]


def test_budget_draws_head_and_tail_where_they_are() -> None:
    p = _prediction("truncate", {"mode": "head+tail", "head_tokens": 128, "tail_tokens": 382},
                    510, 3214)
    cov = coverage(p, 20_000)
    assert cov.read == [(0, 128), (2832, 3214)] and cov.exact and cov.unread == [(128, 2832)]
    fig = charts.token_budget_figure(cov)
    assert _rects(fig, "read") == [(0, 128), (2832, 3214)]
    assert _rects(fig, "not read") == [(0, 3214)]  # the document, drawn under the read blocks
    assert [s.showlegend for s in fig.layout.shapes] == [True, True, False]
    assert fig.layout.title.text == "510 of 3,214 tokens used in 2 pieces"
    assert fig.layout.xaxis.range == (0, 3214)
    whole = charts.token_budget_figure(coverage(_prediction("truncate", {}, 300, 300), 900))
    assert _rects(whole, "read") == [(0, 300)]
    assert not whole.layout.shapes[0].showlegend  # nothing unread: no "not read" legend


def test_budget_chunk_windows_sparse_and_key_sentences() -> None:
    chunk = coverage(_prediction("chunk", {"window": 510, "stride": 256}, 1200, 1200), 6000)
    assert chunk.windows == [(0, 510), (256, 766), (512, 1022), (690, 1200)]
    assert chunk.read == [(0, 1200)]
    fig = charts.token_budget_figure(chunk)
    assert len(_rects(fig, "window")) == 4 and "4 windows" in fig.layout.title.text
    sparse = coverage(_prediction("sparse", {"max_tokens": 4096}, 4096, 9000), 50_000)
    assert sparse.read == [(0, 4096)]
    scores = np.zeros(1000, dtype=np.float32)
    scores[[*range(10, 20), *range(500, 505)]] = 0.01
    attention = AttentionSummary(scores, np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2)),
                                 np.zeros(0))
    key = coverage(_prediction("key_sentences", {}, 15, 1000, attention=attention), 5000)
    assert key.read == [(10, 20), (500, 505)] and key.exact
    # No attention kept: estimated from the character spans, and the title says so.
    guess = coverage(_prediction("key_sentences", {}, 15, 1000, spans=[(50, 100), (2500, 2525)]),
                     5000)
    assert guess.read == [(10, 20), (500, 505)] and not guess.exact
    assert "estimated" in charts.token_budget_figure(guess).layout.title.text


def test_budget_names_chunks_head_tail_window_as_one_window_of_two_pieces() -> None:
    params = {"window": 510, "stride": 256, "max_chunks": 2, "head_tail": True}
    cov = coverage(_prediction("chunk", params, 1020, 2000), 9000)
    assert cov.exact and cov.read == [(0, 510), (1490, 2000)]
    assert cov.windows == [(0, 128), (1618, 2000), (0, 510), (1490, 2000)]
    assert [cov.window_name(i) for i in range(4)] == ["w1 head", "w1 tail", "w2", "w3"]
    fig = charts.token_budget_figure(cov)
    assert "3 windows" in fig.layout.title.text
    names = [s.label.text for s in fig.layout.shapes if s.name == "window"]
    assert names == ["w1 head", "w1 tail", "w2", "w3"]


def test_units_read_marks_words_outside_the_spans() -> None:
    words = np.array([[0, 3], [4, 8], [9, 12], [13, 20], [21, 25]])
    assert units_read(words, [(0, 8), (13, 15)]).tolist() == [True, True, False, True, False]
    assert units_read(words, []).tolist() == [False] * 5
    grid = charts.attention_grid_figure("abc defg hij klmnopq rstu", words,
                                        np.array([0.2, 0.1, 0.0, 0.3, 0.0]), per_row=5,
                                        read=units_read(words, [(0, 8), (13, 15)]))
    grey, heat = grid.data
    assert grey.name == "not read" and np.isnan(heat.z[0][2]) and grey.z[0][2] == 1
    assert np.isnan(grey.z[0][0]) and heat.z[0][0] == 0.2
    assert "2 words not read" in grid.layout.title.text
    assert len(charts.attention_grid_figure("abc", words[:1], np.array([0.5])).data) == 1


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, np.ndarray):
        return [s for v in value.tolist() for s in _strings(v)]
    return []


def _assert_no_markup(fig: object) -> None:
    strings = _strings(fig.to_plotly_json())  # type: ignore[attr-defined]
    for tag in ("<i>", "<b>", "<a ", "</a>"):
        assert not any(tag in s for s in strings), (tag, [s for s in strings if tag in s])
    assert any("&lt;i&gt;evil&lt;/i&gt;" in s for s in strings)


def test_user_text_never_reaches_plotly_as_markup() -> None:
    text = f"{EVIL}. Another sentence here."
    _assert_no_markup(charts.probability_figure({EVIL: 0.6, "b": 0.4}, [EVIL]))
    _assert_no_markup(charts.segment_scores_figure(text, [SegmentScore("sentence", (0, 60), 0.5)]))
    _assert_no_markup(charts.attention_grid_figure(text, np.array([[0, 60]]), np.array([0.3]),
                                                   unit="sentence"))
    weights = np.ones((1, 1, 3, 3), dtype=np.float16)
    _assert_no_markup(charts.full_attention_figure(
        FullAttention(0, weights, np.array([-1, 0, -1]), ["[CLS]", EVIL, "[SEP]"]), 0, None))
    _assert_no_markup(charts.compare_figure({EVIL: {EVIL: 0.5}}))
    _assert_no_markup(charts.cost_figure([{"strategy": EVIL, "used_tokens": 1, "latency_ms": 1}]))
    _assert_no_markup(charts.label_distribution_figure([{"period": "2026-01-01", "label": EVIL,
                                                         "count": 1}]))
    _assert_no_markup(charts.training_figure([{"step": 1, EVIL: 0.5}]))
    _assert_no_markup(charts.metrics_figure([{"name": EVIL, "metrics": {"f1": 0.5}}], ["f1"],
                                            title=EVIL))
    probs = charts.probability_figure({EVIL: 0.6, "b": 0.4}, [EVIL])
    assert probs.data[0].marker.color[-1] == charts.ACCENT  # chosen still found after escaping


def test_metrics_axis_is_a_percentage_scale() -> None:
    fig = charts.metrics_figure([{"name": "m", "metrics": {"f1": 1.0}}], ["f1"])
    assert fig.layout.yaxis.range == (0, 1) and fig.layout.yaxis.tickformat == ".0%"
    assert Coverage(10, []).unread == [(0, 10)]
