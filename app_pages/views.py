"""Result views the pages share: a prediction with what the model saw and where it looked, and
table column settings. Figures and HTML come from ``longbert.ui`` (tested without a browser)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from longbert.document import Document
from longbert.results import Prediction
from longbert.ui import charts, highlight
from longbert.ui.coverage import coverage, units_read
from longbert.ui.formatting import md, token_budget_text


def column_config(frame: Any, **configs: Any) -> dict[str, Any]:
    """A table's column configuration: ``configs``, plus right alignment for numeric columns
    that :func:`longbert.ui.tables.table_frame` turned into text to show their gaps blank."""
    aligned = {c: st.column_config.TextColumn(c, alignment="right")
               for c in frame.attrs.get("numeric_text", ())}
    return {**aligned, **configs}


def render_prediction(p: Prediction, document: Document, prefix: str, *,
                      prediction_id: int | None = None, label_set: str | None = None) -> None:
    """The full result view: label (with the label set it was chosen from), probabilities,
    budget, what the model saw, attention. ``label_set`` names the saved label set the
    prediction was made with (default: the one it records, if any)."""
    top, chart = st.columns([1, 2])
    with top:
        confidence = p.probabilities.get(p.label, 0.0)
        st.metric("Label", ", ".join(p.labels) or p.label, delta=f"{confidence:.1%} probability",
                  delta_color="off", delta_arrow="off")
        st.caption(label_set_text(label_set or (p.extra or {}).get("label_set"),
                                  list(p.probabilities), p.zero_shot))
        if p.zero_shot:
            st.badge("Zero-shot label", icon=":material/auto_awesome:", color="orange",
                     help="From similarity to your label descriptions, not a trained model.")
        st.caption(
            f"Model `{p.model_name}` · strategy `{p.strategy}` · model time {p.latency_ms:,.0f} ms"
            + (f" · {p.extra['precision']} on {p.extra.get('device', '?')}" if "precision" in p.extra else "")
            + (f" · saved as prediction #{prediction_id}" if prediction_id is not None else "")
        )
        st.caption(token_budget_text(p.used_tokens, p.total_tokens))
    with chart:
        st.plotly_chart(charts.probability_figure(p.probabilities, p.labels),
                        key=f"{prefix}:chart:probs")
    st.plotly_chart(charts.token_budget_figure(coverage(p, len(document.text))),
                    key=f"{prefix}:chart:budget")
    seen, attention, full = st.tabs(["What the model saw", "Attention heat map", "Full attention"])
    with seen:
        st.html(highlight.seen_legend(p.used_tokens < p.total_tokens))
        st.html(highlight.segments_html(document.text, p.segment_scores, p.spans))
        if p.segment_scores:
            st.plotly_chart(charts.segment_scores_figure(document.text, p.segment_scores),
                            key=f"{prefix}:chart:segments")
    with attention:
        render_attention(p, document, prefix)
    with full:
        render_full_attention(p, prefix)


def label_set_text(name: str | None, labels: list[str], zero_shot: bool) -> str:
    """``Label set **news** (politics, sport)``; a trained model's own labels when unnamed."""
    listed = ", ".join(md(label) for label in labels)
    if name:
        return f"Label set **{md(name)}** ({listed})"
    return f"Label set: {'the labels typed' if zero_shot else 'the model’s own'} ({listed})"


def render_attention(p: Prediction, document: Document, prefix: str) -> None:
    if p.attention is None:
        st.info("No attention was kept for this prediction.")
        return
    unit = st.segmented_control("Unit", ["words", "sentences"], default="sentences",
                                key=f"{prefix}:attention-unit", required=True) or "sentences"
    a = p.attention
    if unit == "words":
        spans, scores, per_row, name = a.word_spans, a.word_scores, 25, "word"
    else:
        spans, scores, per_row, name = a.sentence_spans, a.sentence_scores, 8, "sentence"
    st.caption(
        "Where the [CLS] token looked in the last layer (mean over heads; windows combined by "
        "their pooling weight). Darker = more attention."
    )
    read = units_read(spans, p.spans)
    unread = p.used_tokens < p.total_tokens and not read.all()
    st.html(highlight.attention_legend(unread))
    st.html(highlight.attention_html(document.text, spans, scores, unit=name,
                                     seen=p.spans if unread else None))
    st.plotly_chart(
        charts.attention_grid_figure(document.text, spans, scores, unit=name, per_row=per_row,
                                     read=read if unread else None),
        key=f"{prefix}:chart:grid:{unit}",
    )


def render_full_attention(p: Prediction, prefix: str) -> None:
    full = p.full_attention
    if full is None:
        st.info(
            "No full attention map was kept. Tick **Keep the full attention map** before "
            "classifying (dense strategies: truncate, key sentences, chunk) to see every layer "
            "and head."
        )
        return
    layers, heads = int(full.weights.shape[0]), int(full.weights.shape[1])
    st.caption("Rows are the tokens attending (queries), columns the tokens attended to (keys); "
               "token 0 is [CLS]. The colour scale is capped at the 99.5th percentile.")
    left, right = st.columns(2)
    layer = left.slider("Layer", 0, layers - 1, layers - 1, key=f"{prefix}:attention-layer")
    head = right.selectbox("Head", ["mean", *range(heads)], key=f"{prefix}:attention-head")
    st.plotly_chart(
        charts.full_attention_figure(full, int(layer), None if head == "mean" else int(head)),
        key=f"{prefix}:chart:full",
    )
