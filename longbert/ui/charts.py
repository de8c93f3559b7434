"""Plotly figures for every chart in the app (pages only call ``st.plotly_chart`` on them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from longbert.results import FullAttention, SegmentScore, segment_windows
from longbert.ui.coverage import Coverage
from longbert.ui.formatting import plain, snippet, token_budget_text
from longbert.ui.highlight import run_labels

SEEN = "#228be6"
UNSEEN = "#dee2e6"
WINDOW = "#74c0fc"
UNREAD = "#adb5bd"
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
    labels = [plain(k) for k, _ in items]  # label names are user text: never markup
    values = [float(v) for _, v in items]
    colors = [ACCENT if k in chosen else SEEN for k, _ in items]
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


def _block(start: int, end: int, y0: float, y1: float, color: str, name: str, *,
           legend: bool, label: str = "") -> dict[str, Any]:
    return {
        "type": "rect", "xref": "x", "yref": "y", "x0": start, "x1": end, "y0": y0, "y1": y1,
        "fillcolor": color, "line": {"width": 1, "color": "white"}, "layer": "above",
        "name": name, "legendgroup": name, "showlegend": legend,
        "label": {"text": label, "font": {"size": 11, "color": "white"}},
    }


def token_budget_figure(cov: Coverage) -> go.Figure:
    """The document's token axis with what the model read drawn where it is.

    One block per read range (head and tail, each key sentence, the chunk windows' union) over a
    grey bar for the whole document; chunk windows are drawn above it, staggered on two lanes so
    their overlaps show. Read ranges are layout shapes (``fig.layout.shapes``).
    """
    total = max(cov.total, 1)
    shapes = [_block(0, total, 0.0, 0.5, UNSEEN, "not read", legend=bool(cov.unread))]
    wide = total * 0.08  # a block this wide has room for its range as a label
    for i, (start, end) in enumerate(cov.read):
        label = f"{start:,}–{end:,}" if end - start >= wide and len(cov.read) <= 12 else ""
        shapes.append(_block(start, end, 0.0, 0.5, SEEN, "read", legend=i == 0, label=label))
    for i, (start, end) in enumerate(cov.windows):
        lane = 0.58 if i % 2 == 0 else 0.8
        label = cov.window_name(i) if len(cov.windows) <= 30 else ""
        shapes.append(_block(start, end, lane, lane + 0.18, WINDOW, "window", legend=i == 0,
                             label=label))
    title = token_budget_text(cov.used, cov.total)
    if len(cov.read) > 1:
        title += f" in {len(cov.read):,} pieces"
    if cov.windows:
        title += f" · {cov.window_count:,} window{'s' if cov.window_count != 1 else ''}"
    if not cov.exact:
        title += " (positions estimated from character offsets)"
    fig = go.Figure()
    fig.update_layout(
        title=title, height=210 if cov.windows else 190, shapes=shapes, showlegend=True,
        # Below the axis: over the bar it would cover the window tags of the top lane.
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.45, "yanchor": "top"},
        yaxis={"visible": False, "range": [-0.05, 1.02 if cov.windows else 0.55],
               "fixedrange": True},
        xaxis={"range": [0, total], "title": "token position", "tickformat": ",d",
               "showgrid": False, "zeroline": False},
        **_LAYOUT,
    )
    fig.update_layout(margin={**_LAYOUT["margin"], "b": 70})
    return fig


def segment_scores_figure(text: str, segments: Sequence[SegmentScore]) -> go.Figure:
    """Bars of the strategy's own scores: key-sentence centrality, or chunk windows, one bar
    per window numbered as the model read them (chunk's head+tail window reads two runs of
    text: its hover shows both, as ``window 1 (head + tail)``)."""
    kind = segments[0].kind if segments else "segment"
    if kind == "window":
        windows = segment_windows(segments)
        order = list(dict.fromkeys(w for w in windows if w is not None))
        groups = [[i for i, w in enumerate(windows) if w == window] for window in order]
        xs = [window + 1 for window in order]
    else:
        groups = [[i] for i in range(len(segments))]
        xs = list(range(1, len(segments) + 1))
    bars = [segments[group[0]] for group in groups]  # a window's runs share its score and weight
    hover = []
    for x, group, s in zip(xs, groups, bars, strict=True):
        parts = run_labels(len(group)) if kind == "window" else [""]
        pieces = [plain(snippet(text[segments[i].span[0] : segments[i].span[1]], 80)) for i in group]
        hover.append(
            f"{kind} {x}" + (f" ({' + '.join(parts)})" if len(group) > 1 else "")
            + f": {s.score:.3f}"
            + (f" (weight {s.weight:.3f})" if s.weight is not None else "")
            + ("" if s.selected else " — not selected")
            + "".join(f"<br>{part + ': ' if part else ''}{piece}"
                      for part, piece in zip(parts, pieces, strict=True))
        )
    fig = go.Figure(
        go.Bar(x=xs, y=[s.score for s in bars], marker_color=[SEEN if s.selected else UNSEEN for s in bars],
               hovertext=hover, hoverinfo="text")
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
    read: np.ndarray | None = None,
) -> go.Figure:
    """The document as a heat map: units (words or sentences) in reading order, ``per_row`` a row.

    ``unit_spans`` ``[n, 2]``, ``unit_scores`` ``[n]``. Hovering a cell shows the unit's text.
    ``read`` ``[n]`` bool marks units the model read; the others are grey cells (no attention
    because never read, unlike a read unit with near-zero attention) in their own trace. Beyond
    ``max_units`` units (about 15k tokens of words) the tail is left out of the grid.
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
        labels.flat[i] = plain(snippet(text[spans[i, 0] : spans[i, 1]], limit))
    traces: list[go.Heatmap] = []
    unread = np.zeros(n, dtype=bool) if read is None else ~np.asarray(read, dtype=bool)[:n]
    if unread.any():
        grey = np.full((rows, per_row), np.nan)
        grey.flat[:n] = np.where(unread, 1.0, np.nan)
        z.flat[:n] = np.where(unread, np.nan, scores)
        traces.append(go.Heatmap(
            z=grey, customdata=labels, colorscale=[[0, UNREAD], [1, UNREAD]], showscale=False,
            hoverongaps=False, zmin=0, zmax=1, name="not read",
            hovertemplate=f"{unit} %{{customdata}}<br>not read by the model<extra></extra>",
        ))
    positive = scores[(scores > 0) & ~unread]
    # Peaky attention: cap the colour scale at the 99th percentile so most cells are not white.
    zmax = float(np.quantile(positive, 0.99)) if len(positive) else None
    traces.append(go.Heatmap(
        z=z, customdata=labels, colorscale=HEAT_SCALE, hoverongaps=False, zmin=0, zmax=zmax,
        hovertemplate=f"{unit} %{{customdata}}<br>attention %{{z:.4f}}<extra></extra>",
        colorbar={"title": "attention"}, name="attention",
    ))
    fig = go.Figure(traces)
    title = f"Attention by {unit} (reading order, {per_row} per row)"
    if unread.any():
        title += f"; grey: {unread.sum():,} {unit}s not read"
    fig.update_layout(
        title=title,
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
    tokens = [f"{i}:{plain(t)}" for i, t in enumerate(full.tokens)]
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
            go.Bar(name=plain(name), x=[plain(label) for label in labels],
                   y=[float(probs.get(label, 0.0)) for label in labels])
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
    names = [plain(r["strategy"]) for r in rows]
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
        [go.Bar(name=plain(label), x=[plain(p) for p in periods],
                y=[counts.get((p, label), 0) for p in periods])
         for label in labels]
    )
    fig.update_layout(barmode="stack", title="Labels over time", height=320,
                      xaxis={"type": "category"}, **_LAYOUT)
    return fig


def _quantity(key: str) -> str:
    """Which axis a training curve goes on: losses share one, each metric has its own."""
    if "loss" in key:
        return "loss"
    for metric in ("macro_f1", "accuracy", "f1"):
        if key.endswith(metric):
            return metric
    return key


def training_figure(history: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Live training curves, one axis (a row) per quantity: loss, then each metric (0..1, as
    percentages), sharing the step axis. Few points are drawn with markers, so a run of a few
    steps still shows lines, not lone dots.

    ``history`` rows hold ``step`` (or only ``epoch``) and any of ``loss``, ``train_loss``,
    ``val_loss`` and metric keys such as ``accuracy`` or ``macro_f1``; a key absent from a row is
    a gap.
    """
    x_key = "step" if any("step" in r for r in history) else "epoch"
    keys: list[str] = []
    for row in history:
        for key, value in row.items():
            if key not in ("step", "epoch") and isinstance(value, int | float) and key not in keys:
                keys.append(key)
    quantities = list(dict.fromkeys(_quantity(k) for k in keys)) or ["loss"]
    fig = make_subplots(rows=len(quantities), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[plain(q) for q in quantities])
    for key in keys:
        points = [(r.get(x_key), r[key]) for r in history if isinstance(r.get(key), int | float)]
        fig.add_trace(
            go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], name=plain(key),
                       mode="lines+markers" if len(points) < 40 else "lines"),
            row=quantities.index(_quantity(key)) + 1, col=1,
        )
    for row, quantity in enumerate(quantities, start=1):
        if quantity != "loss":
            fig.update_yaxes(range=[0, 1], tickformat=".0%", row=row, col=1)
    fig.update_xaxes(title_text=x_key, row=len(quantities), col=1)
    fig.update_layout(title="Training", height=180 + 160 * len(quantities), **_LAYOUT)
    return fig


def confusion_figure(labels: Sequence[str], confusion: Sequence[Sequence[int]],
                     title: str = "Confusion matrix") -> go.Figure:
    """A heat map of a confusion matrix: rows the true label, columns the predicted one, with
    each cell's count written on it."""
    names = [plain(label) for label in labels]
    matrix = np.asarray(confusion, dtype=np.int64)
    fig = go.Figure(go.Heatmap(
        z=matrix, x=names, y=names, colorscale=HEAT_SCALE, text=matrix, texttemplate="%{text}",
        hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>", showscale=False))
    fig.update_layout(title=plain(title), height=160 + 40 * len(names),
                      xaxis={"title": "predicted", "type": "category"},
                      yaxis={"title": "true label", "type": "category", "autorange": "reversed"},
                      **_LAYOUT)
    return fig


def metrics_figure(models: Sequence[Mapping[str, Any]], metric_keys: Sequence[str],
                   title: str = "Dev-set metrics") -> go.Figure:
    """Grouped bars comparing models on metrics in [0, 1] (accuracy, F1), as percentages."""
    fig = go.Figure(
        [
            go.Bar(name=plain(key), x=[plain(m["name"]) for m in models],
                   y=[m.get("metrics", {}).get(key) for m in models],
                   hovertemplate="%{x}: %{y:.1%}<extra>%{fullData.name}</extra>")
            for key in metric_keys
        ]
    )
    fig.update_layout(barmode="group", title=plain(title), height=320,
                      yaxis={"range": [0, 1], "tickformat": ".0%", "dtick": 0.2},
                      xaxis={"type": "category"}, **_LAYOUT)
    return fig
