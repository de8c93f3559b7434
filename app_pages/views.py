"""Result views the pages share: a prediction with what the model saw and where it looked, and
table column settings. Figures and HTML come from ``longbert.ui`` (tested without a browser)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages import resources
from longbert.document import Document
from longbert.errors import LongBertError
from longbert.explain import document_html
from longbert.results import Prediction
from longbert.ui import charts, highlight
from longbert.ui import explanations as why
from longbert.ui.coverage import coverage, units_read
from longbert.ui.exit_control import exit_threshold_note
from longbert.ui.formatting import code_span, md, token_budget_text


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
            # Code spans that a backtick in a name (a Label Studio import's model) cannot end.
            f"Model {code_span(p.model_name)} · strategy {code_span(p.strategy)} · "
            f"model time {p.latency_ms:,.0f} ms"
            + (f" · {p.extra['precision']} on {p.extra.get('device', '?')}" if "precision" in p.extra else "")
            + md(exit_threshold_note(p))
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


def render_why(prediction_id: int | None, p: Prediction, document: Document, prefix: str, *,
               heading: bool = True) -> None:
    """The "Why this label" section: a method switch, stored explanations shown at once,
    **Explain** to compute one with the model that made the prediction (kept with it), the top
    sentences for and against the label and the document with them highlighted (HTML-escaped)."""
    if heading:
        st.subheader("Why this label")
    if prediction_id is None:
        st.info("Only saved predictions can be explained.")
        return
    store = resources.store()
    labels = list(p.probabilities)
    picked, method_col = st.columns([1, 2])
    label = picked.selectbox("Explain the label", labels,
                             index=labels.index(p.label) if p.label in labels else 0,
                             key=f"{prefix}:why-label:{prediction_id}",
                             help="The predicted label, or another one: why not that one?")
    # Early-exit predictions: the full-depth methods cannot explain them as made, so attention
    # is the default (its own key, so a switch left on occlusion by another model does not
    # carry over) and the others are marked: they can explain the full model instead.
    exits = why.exits_in_force(p)
    default = "attention" if exits is not None else why.METHOD_ORDER[0]
    method = method_col.segmented_control(
        "Method", list(why.METHOD_ORDER), default=default, required=True,
        format_func=lambda m: why.method_title(m) + (
            " (full model)" if exits is not None and m in why.FULL_DEPTH_METHODS else ""),
        key=f"{prefix}:why-method" + ("" if exits is None else ":exits")) or default
    st.caption(why.method_help(method))
    full_model = exits is not None and method in why.FULL_DEPTH_METHODS
    if exits is not None:
        st.caption(md(why.exits_text(exits)) if full_model else
                   f"Made by an early-exit model (exit threshold {exits:g}): attention reads "
                   "the layers it ran; the other methods can only explain the full model.")
    try:
        stored = why.stored_explanations(store, prediction_id, label)
    except LongBertError as error:  # a damaged row: say so, computing a new one still works
        st.error(str(error))
        stored = {}
    unavailable = why.availability(store, p)
    if unavailable:
        st.warning(unavailable)
    again = method in stored
    go = ("Explain the full model " + ("again" if again else "instead") if full_model
          else "Explain again" if again else "Explain")
    if st.button(go, key=f"{prefix}:why-go",
                 disabled=unavailable is not None, type="secondary" if again else "primary",
                 help=("Computes it with the model that made this prediction, every layer and "
                       "no exits, " if full_model else
                       "Computes it with the model that made this prediction ")
                 + "and keeps it with the prediction"
                 + (" (replacing the one shown)." if again else ".")):
        try:
            with st.spinner(f"Explaining with {why.method_title(method).lower()}…"):
                outcome = why.explain_and_store(store, prediction_id, p, document, method,
                                                resources.load_model, label=label,
                                                full_model=full_model)
        except LongBertError as error:
            st.error(str(error))
        else:
            # Shown by the rerun, which draws the button and lists from what is stored now.
            st.session_state[f"{prefix}:why-done"] = (
                f"Explained in {why.seconds_text(outcome.wall_seconds)} (model time "
                f"{why.seconds_text(outcome.explanation.seconds)}); saved with prediction "
                f"#{prediction_id}.")
            st.rerun()
    if (done := st.session_state.pop(f"{prefix}:why-done", None)) is not None:
        st.success(done)
    others = [why.method_title(m) for m in why.METHOD_ORDER if m in stored and m != method]
    record = stored.get(method)
    if record is None:
        st.info(f"Not explained with {why.method_title(method).lower()} yet"
                + ("" if unavailable else f": press **{go}**")
                + (f". Saved already: {', '.join(others)}." if others else "."))
        return
    e = record.explanation
    st.caption(md(why.summary_text(record)))
    k = st.slider("Sentences per list", 1, 10, 3, key=f"{prefix}:why-k")
    for title, sign in ((f"For '{e.label}'", 1), (f"Against '{e.label}'", -1)):
        st.markdown(f"**{md(title)}**")
        lines = why.top_lines(document.text, e, k, sign=sign)
        if lines:
            st.dataframe([line.row() for line in lines], hide_index=True,
                         key=f"{prefix}:why-{'for' if sign > 0 else 'against'}")
        else:
            st.caption(why.empty_list_text(e, sign))
    st.caption("The document, the sentences above highlighted (hover for the score):")
    with st.container(height=420, key=f"{prefix}:why-document"):
        # The prediction's read spans: a sentence a window cut is highlighted only where read.
        st.html(document_html(document.text, e, k, read=p.spans))
