"""Plotly figures for every chart in the app (pages only call ``st.plotly_chart`` on them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from longbert.results import FullAttention, SegmentScore
from longbert.ui.formatting import snippet, token_budget_text

SEEN = "#228be6"
UNSEEN = "#dee2e6"
ACCENT = "#e6550d"
HEAT_SCALE = "OrRd"

_LAYOUT: dict[str, Any] = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "template": "plotly_white",
}


def probability_figure(
    probabilities: Mapping[str, float], chosen: Sequence[str] = (), top: int = 15
) -> go.Figure:
    """Horizontal bars of label probabilities, highest on top; chosen labels in the accent color."""
    items = sorted(probabilities.items(), key=lambda kv: kv[1], reverse=True)[:top]
    items.reverse()  # plotly draws the first bar at the bottom
    labels = [k for k, _ in items]
    values = [float(v) for _, v in items]
    colors = [ACCENT if k in chosen else SEEN for k in labels]
    fig = go.Figure(
        go.Bar(
            x=values, y=labels, orientation="h", marker_color=colors,
            text=[f"{v:.1%}" for v in values], textposition="auto",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title="Label probabilities", xaxis={"range": [0, 1], "tickformat": ".0%"},
        height=max(160, 40 + 28 * len(labels)), **_LAYOUT,
    )
    return fig


def token_budget_figure(used: int, total: int) -> go.Figure:
    """A single stacked bar: tokens the model read against the whole document."""
    unseen = max(0, total - used)
    fig = go.Figure(
        [
            go.Bar(x=[used], y=["tokens"], orientation="h", name="read", marker_color=SEEN,
                   hovertemplate="read: %{x:,}<extra></extra>"),
            go.Bar(x=[unseen], y=["tokens"], orientation="h", name="not read",
                   marker_color=UNSEEN, hovertemplate="not read: %{x:,}<extra></extra>"),
        ]
    )
    fig.update_layout(
        barmode="stack", title=token_budget_text(used, total), height=150, showlegend=True,
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.25},
        yaxis={"visible": False}, xaxis={"range": [0, max(total, 1)]}, **_LAYOUT,
    )
    return fig


def segment_scores_figure(text: str, segments: Sequence[SegmentScore]) -> go.Figure:
    """Bars of the strategy's own scores: chunk windows, or key-sentence centrality."""
    xs = list(range(1, len(segments) + 1))
    kind = segments[0].kind if segments else "segment"
    colors = [SEEN if s.selected else UNSEEN for s in segments]
    hover = [
        f"{kind} {i}: {s.score:.3f}"
        + (f" (weight {s.weight:.3f})" if s.weight is not None else "")
        + ("" if s.selected else " — not selected")
        + f"<br>{snippet(text[s.span[0]:s.span[1]], 80)}"
        for i, s in zip(xs, segments, strict=True)
    ]
    fig = go.Figure(
        go.Bar(x=xs, y=[s.score for s in segments], marker_color=colors, hovertext=hover,
               hoverinfo="text")
    )
    title = "Window scores (probability of the label from each window alone)" if kind == "window" \
        else "Sentence scores (TextRank centrality; blue = kept)"
    fig.update_layout(title=title, xaxis={"title": kind, "tickformat": "d",
                                          "dtick": 1 if len(xs) <= 30 else None},
                      height=260, **_LAYOUT)
    return fig


def attention_grid_figure(
    text: str,
    unit_spans: np.ndarray,
    unit_scores: np.ndarray,
    *,
    unit: str = "word",
    per_row: int = 20,
    max_units: int = 12_000,
) -> go.Figure:
    """The document as a heat map: units (words or sentences) in reading order, ``per_row`` a row.

    ``unit_spans`` ``[n, 2]``, ``unit_scores`` ``[n]``. Hovering a cell shows the unit's text.
    Beyond ``max_units`` units (about 15k tokens of words) the tail is left out of the grid.
    """
    spans = np.asarray(unit_spans, dtype=np.int64).reshape(-1, 2)[:max_units]
    scores = np.asarray(unit_scores, dtype=np.float64).reshape(-1)[: len(spans)]
    n = len(spans)
    rows = max(1, -(-n // per_row))
    z = np.full((rows, per_row), np.nan)
    labels = np.full((rows, per_row), "", dtype=object)
    z.flat[:n] = scores
    limit = 24 if unit == "word" else 90
    for i in range(n):
        labels.flat[i] = snippet(text[spans[i, 0] : spans[i, 1]], limit)
    positive = scores[scores > 0]
    # Peaky attention: cap the colour scale at the 99th percentile so most cells are not white.
    zmax = float(np.quantile(positive, 0.99)) if len(positive) else None
    fig = go.Figure(
        go.Heatmap(
            z=z, customdata=labels, colorscale=HEAT_SCALE, hoverongaps=False, zmin=0, zmax=zmax,
            hovertemplate=f"{unit} %{{customdata}}<br>attention %{{z:.4f}}<extra></extra>",
            colorbar={"title": "attention"},
        )
    )
    fig.update_layout(
        title=f"Attention by {unit} (reading order, {per_row} per row)",
        height=min(900, 120 + 14 * rows), yaxis={"autorange": "reversed", "title": "row"},
        xaxis={"visible": False}, **_LAYOUT,
    )
    return fig


def full_attention_figure(full: FullAttention, layer: int, head: int | None) -> go.Figure:
    """One layer's attention matrix for the kept window (``head=None`` averages the heads).

    ``full.weights`` is ``[layers, heads, seq, seq]``; rows are queries, columns keys.
    """
    weights = full.weights[layer].astype(np.float32)  # [heads, seq, seq]
    matrix = weights.mean(axis=0) if head is None else weights[head]
    tokens = [f"{i}:{t}" for i, t in enumerate(full.tokens)]
    which = "mean over heads" if head is None else f"head {head}"
    # [CLS]/[SEP] columns soak up most weight; cap the scale so the rest of the map shows.
    zmax = float(np.quantile(matrix, 0.995)) or None
    fig = go.Figure(
        go.Heatmap(
            z=matrix, x=tokens, y=tokens, colorscale=HEAT_SCALE, zmin=0, zmax=zmax,
            hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"Window {full.window_index + 1}, layer {layer}, {which}",
        height=640, yaxis={"autorange": "reversed", "showticklabels": len(tokens) <= 64},
        xaxis={"showticklabels": len(tokens) <= 64}, **_LAYOUT,
    )
    return fig


def compare_figure(results: Mapping[str, Mapping[str, float]]) -> go.Figure:
    """Grouped bars: each strategy's probabilities per label (``{strategy: {label: p}}``)."""
    labels = sorted({label for probs in results.values() for label in probs})
    fig = go.Figure(
        [
            go.Bar(name=name, x=labels, y=[float(probs.get(label, 0.0)) for label in labels])
            for name, probs in results.items()
        ]
    )
    fig.update_layout(
        barmode="group", title="Probabilities by strategy", yaxis={"range": [0, 1]},
        height=320, **_LAYOUT,
    )
    return fig


def cost_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Tokens read and latency per strategy (rows with strategy, used_tokens, latency_ms)."""
    names = [str(r["strategy"]) for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Tokens read", "Latency (ms)"))
    fig.add_trace(go.Bar(x=names, y=[r["used_tokens"] for r in rows], marker_color=SEEN,
                         showlegend=False), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[r["latency_ms"] for r in rows], marker_color=ACCENT,
                         showlegend=False), row=1, col=2)
    fig.update_layout(height=300, **_LAYOUT)
    return fig


def label_distribution_figure(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Stacked bars of predictions per label over time (rows with period/label/count)."""
    periods = sorted({str(r["period"]) for r in rows})
    labels = sorted({str(r["label"]) for r in rows})
    counts = {(str(r["period"]), str(r["label"])): int(r["count"]) for r in rows}
    fig = go.Figure(
        [go.Bar(name=label, x=periods, y=[counts.get((p, label), 0) for p in periods])
         for label in labels]
    )
    fig.update_layout(barmode="stack", title="Labels over time", height=320,
                      xaxis={"type": "category"}, **_LAYOUT)
    return fig


def training_figure(history: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Live training curves: loss on the left axis, metrics (0..1) on the right.

    ``history`` rows hold ``step`` (or only ``epoch``) and any of ``loss``, ``train_loss``,
    ``val_loss`` and metric keys such as ``accuracy`` or ``macro_f1``; a key absent from a row is
    a gap.
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x_key = "step" if any("step" in r for r in history) else "epoch"
    keys: list[str] = []
    for row in history:
        for key, value in row.items():
            if key not in ("step", "epoch") and isinstance(value, int | float) and key not in keys:
                keys.append(key)
    for key in keys:
        points = [(r.get(x_key), r[key]) for r in history if isinstance(r.get(key), int | float)]
        is_loss = "loss" in key
        fig.add_trace(
            go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], name=key,
                       mode="lines+markers" if len(points) < 40 else "lines"),
            secondary_y=not is_loss,
        )
    fig.update_layout(title="Training", height=340, xaxis_title=x_key, **_LAYOUT)
    fig.update_yaxes(title_text="loss", secondary_y=False)
    fig.update_yaxes(title_text="metric", range=[0, 1], secondary_y=True)
    return fig


def metrics_figure(models: Sequence[Mapping[str, Any]], metric_keys: Sequence[str]) -> go.Figure:
    """Grouped bars comparing registered models on their stored metrics."""
    fig = go.Figure(
        [
            go.Bar(name=key, x=[str(m["name"]) for m in models],
                   y=[m.get("metrics", {}).get(key) for m in models])
            for key in metric_keys
        ]
    )
    fig.update_layout(barmode="group", title="Model metrics", height=320, **_LAYOUT)
    return fig
