"""Classify: paste a text or upload one file, pick model and strategy, see what the model saw
and why it gave its label."""

from __future__ import annotations

import json
import time

import streamlit as st

from app_pages import resources, views, widgets
from longbert.document import Document, as_document
from longbert.errors import LongBertError
from longbert.readers import ReadLimits, read_single
from longbert.readers.base import MB
from longbert.ui.formatting import classified_message, input_signature, md

st.title("Classify a document")

with st.sidebar:
    choice, labels = widgets.model_picker("classify")
    strategy, strategy_ok = widgets.strategy_picker("classify", choice)
    exit_threshold, threshold_ok = widgets.exit_threshold_picker("classify", choice, strategy)

source = st.segmented_control("Input", ["Paste text", "Upload a file"], default="Paste text",
                              key="classify:source", required=True)
text: str | None = None
upload = None
if source == "Upload a file":
    upload = st.file_uploader(
        "One document (txt, md, html, pdf, docx)", key="classify:file",
        help="For many files, tables (csv/jsonl) or zip archives use the Batch label page.",
    )
    widgets.upload_limit_caption()
else:
    text = st.text_area("Document text", key="classify:text", height=220,
                        placeholder="Paste a long document here…")
keep_full = st.checkbox(
    "Keep the full attention map (every layer and head of the first window; ~40 MB per document "
    "in the database)", key="classify:full",
)
go = st.button("Classify", type="primary", key="classify:go",
               disabled=not strategy_ok or not threshold_ok or (choice.zero_shot and labels is None))


def _document() -> Document | None:
    """The input as a Document, or None with the reason shown."""
    try:
        if upload is not None:
            limit = int(st.get_option("server.maxUploadSize")) * MB
            return read_single(upload.name, upload.getvalue(), source="upload",
                               limits=ReadLimits(max_file_bytes=limit))
        if source == "Upload a file":
            st.warning("Choose a file to upload first.")
            return None
        return as_document(text or "", name="pasted text", source="paste")
    except LongBertError as error:
        st.error(str(error))
        return None


# The model, labels, strategy and early-exit threshold are part of what a result describes:
# changing any of them (not only the text) takes the old result off the screen.
settings = json.dumps([choice.key, labels, strategy, exit_threshold], sort_keys=True, default=str)
signature = input_signature(source or "", text, upload.name if upload else None,
                            upload.getvalue() if upload else None) + settings
previous = st.session_state.get("classify:result")
if go or (previous is not None and previous[-1] != signature):
    # A new attempt or a changed input: the old result no longer describes what is on screen.
    st.session_state.pop("classify:result", None)

if go:
    document = _document()
    if document is not None:
        started = time.perf_counter()
        try:
            model = resources.load_model(choice.key, labels)
            loaded = time.perf_counter() - started
            from longbert.ui.service import classify_and_log

            label_set = widgets.current_label_set() if choice.zero_shot else None
            with st.spinner("Classifying…"):
                prediction, pid = classify_and_log(
                    resources.store(), model, document, strategy, keep_full_attention=keep_full,
                    label_set=label_set, exit_threshold=exit_threshold)
        except LongBertError as error:
            st.error(str(error))
        else:
            st.session_state["classify:result"] = (prediction, document, pid,
                                                   time.perf_counter() - started, loaded,
                                                   label_set, signature)

result = st.session_state.get("classify:result")
if result is not None:
    prediction, document, pid, seconds, loaded, label_set, _ = result
    st.success(classified_message(document.name, seconds, loaded))
    views.render_prediction(prediction, document, "classify", prediction_id=pid,
                            label_set=label_set)
    views.render_why(pid, prediction, document, "classify")
elif not go:
    st.info(
        "Paste a text or upload a file, then press **Classify**. "
        + ("Zero-shot labels it by similarity to the label descriptions you type (left)."
           if choice.zero_shot else
           f"The trained model **{md(choice.title)}** labels it as one of: "
           f"{', '.join(md(label) for label in choice.labels)}.")
    )
