"""Compare: one document through every strategy, side by side, each with "Why this label"."""

from __future__ import annotations

import json

import streamlit as st

from app_pages import resources, views, widgets
from longbert.document import as_document
from longbert.errors import LongBertError
from longbert.readers import ReadLimits, read_single
from longbert.readers.base import MB
from longbert.results import Prediction
from longbert.ui import charts, highlight
from longbert.ui.formatting import input_signature, token_budget_text
from longbert.ui.params import strategy_names, strategy_title
from longbert.ui.service import compare_strategies, comparison_rows
from longbert.ui.tables import columns_with_values, table_frame

st.title("Compare strategies")
st.caption("The same document through each long-input strategy: label, probabilities, tokens "
           "read, latency, and what each one saw. Every run is saved to History.")

with st.sidebar:
    choice, labels = widgets.model_picker("compare")
    # One threshold for every strategy compared (the sparse one always runs every layer).
    exit_threshold, threshold_ok = widgets.exit_threshold_picker("compare", choice, several=True)

picked = st.multiselect("Strategies", strategy_names(), default=strategy_names(),
                        format_func=strategy_title, key="compare:strategies")
configs = []
params_ok = True
with st.expander("Strategy parameters (defaults shown)"):
    for tab, name in zip(st.tabs([strategy_title(n) for n in picked] or ["—"]), picked,
                         strict=False):
        with tab:
            config = widgets.strategy_params_form(name, "compare")
            params_ok &= config is not None
            if config is not None:
                configs.append(config)

source = st.segmented_control("Input", ["Paste text", "Upload a file"], default="Paste text",
                              key="compare:source", required=True)
upload = None
text = None
if source == "Upload a file":
    upload = st.file_uploader("One document", key="compare:file")
    widgets.upload_limit_caption()
else:
    text = st.text_area("Document text", key="compare:text", height=200)
go = st.button("Compare", type="primary", key="compare:go",
               disabled=not picked or not params_ok or not threshold_ok
               or (choice.zero_shot and labels is None))

# The document, model, labels, strategies (with their parameters) and early-exit threshold are
# what the results describe: changing any of them, or a new press of Compare (which may fail),
# takes the old results off the screen, as on Classify. They stay in History.
settings = json.dumps([choice.key, labels, configs, exit_threshold], sort_keys=True, default=str)
signature = input_signature(source or "", text, upload.name if upload else None,
                            upload.getvalue() if upload else None) + settings
previous = st.session_state.get("compare:result")
if go or (previous is not None and previous[-1] != signature):
    st.session_state.pop("compare:result", None)

if go:
    try:
        if upload is not None:
            limit = int(st.get_option("server.maxUploadSize")) * MB
            document = read_single(upload.name, upload.getvalue(),
                                   limits=ReadLimits(max_file_bytes=limit))
        elif source == "Upload a file":
            raise LongBertError("Choose a file to upload first.")
        else:
            document = as_document(text or "", name="pasted text", source="paste")
        model = resources.load_model(choice.key, labels)
        bar = st.progress(0.0, text="Running strategies…")
        results = compare_strategies(
            model, document, configs, store=resources.store(), exit_threshold=exit_threshold,
            progress=lambda done, total: bar.progress(done / total,
                                                      text=f"{done} of {total} strategies"),
        )
        bar.empty()
    except LongBertError as error:
        st.error(str(error))
    else:
        st.session_state["compare:result"] = (document, results, signature)

stored = st.session_state.get("compare:result")
if stored is None:
    st.info("Paste or upload a document, then press **Compare**.")
    st.stop()

document, results, _ = stored
rows = comparison_rows(results)
frame = table_frame(rows, columns_with_values(rows, list(rows[0]) if rows else [],
                                              ["exit_threshold", "error"]),
                    keep=("confidence",))
st.dataframe(frame, hide_index=True, key="compare:table", column_config=views.column_config(
    frame, strategy=st.column_config.TextColumn("strategy", pinned=True),
    confidence=st.column_config.NumberColumn("confidence", format="percent")))
ok = [c for c in results if isinstance(c.result, Prediction)]
if ok:
    left, right = st.columns(2)
    left.plotly_chart(charts.compare_figure(
        {c.name: c.result.probabilities for c in ok if isinstance(c.result, Prediction)}),
        key="compare:probs")
    right.plotly_chart(charts.cost_figure([r for r in rows if r["error"] is None]),
                       key="compare:cost")
# Same elements in the same order in every column (a failed strategy fills the same slots), so
# the columns line up: title, label, budget, then the document.
columns = st.columns(len(results))
for column, comparison in zip(columns, results, strict=True):
    with column:
        st.markdown(f"**{strategy_title(comparison.name)}**")
        result = comparison.result
        if not isinstance(result, Prediction):
            st.metric("Label", "—", delta="failed", delta_color="off", delta_arrow="off")
            st.caption("no result")
            st.error(result.message)
            continue
        confidence = result.probabilities.get(result.label, 0.0)
        st.metric("Label", result.label, delta=f"{confidence:.1%}"
                  + (" · zero-shot" if result.zero_shot else ""), delta_color="off",
                  delta_arrow="off")
        st.caption(f"{token_budget_text(result.used_tokens, result.total_tokens)} · "
                   f"{result.latency_ms:,.0f} ms")
        st.html(highlight.segments_html(document.text, result.segment_scores, result.spans))
        with st.expander("Why this label"):
            views.render_why(comparison.prediction_id, result, document,
                             f"compare:{comparison.prediction_id}", heading=False)
