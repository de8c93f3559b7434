"""Adapt encoder: further MLM pre-training on the documents in the database (or an upload), in the
background with progress; the adapted encoder is then a starting point on the Train page.
``python -m longbert.pretrain`` is the full interface."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages import resources, widgets
from longbert.errors import LongBertError
from longbert.ui import charts
from longbert.ui.adaptation import MODES, adaptation_work, build_config, result_summary, store_corpora
from longbert.ui.formatting import format_duration
from longbert.ui.models import starting_encoders
from longbert.ui.training import save_upload

st.title("Adapt the encoder to your documents")
st.caption(
    "Continues the encoder's masked-language-model pre-training on unlabelled documents (BERT's "
    "objective: 15% of the words hidden and predicted), so it knows your documents' vocabulary "
    "before a classifier is trained on it. Nothing is labelled or changed in the database. For "
    "every option use `python -m longbert.pretrain --help`."
)
store = resources.store()

corpora = store_corpora(store)
use_store = st.checkbox("Documents in the database", value=True, key="adapt:from-store",
                        help="The texts of every classified document (or one batch's).")
corpus = None
if use_store:
    corpus = st.selectbox("Which documents", corpora, key="adapt:corpus",
                          format_func=lambda c: c.title)
upload = st.file_uploader(
    "And/or upload unlabelled text (txt, md, html, pdf, docx, JSONL/CSV rows, zip, gz)",
    type=["txt", "md", "html", "htm", "pdf", "docx", "jsonl", "csv", "tsv", "zip", "gz", "json"],
    key="adapt:file",
)

starts = {c.key: c.title for c in starting_encoders()}
left, right = st.columns(2)
values: dict[str, Any] = {
    "name": left.text_input("Name of the adapted encoder", value="adapted-encoder", key="adapt:name",
                            help="Saved as models/<name>/; the Train page offers it as a start."),
    "encoder": right.selectbox("Start from", list(starts), key="adapt:encoder",
                               format_func=starts.__getitem__,
                               help="The packaged encoder, or an encoder adapted before."),
}
values["strategy"] = st.radio("Mode", list(MODES), key="adapt:mode", horizontal=True,
                              format_func=lambda m: "Dense (512 tokens)" if m == "dense"
                              else "Long (sparse, 4,096 tokens)")
st.caption(MODES[values["strategy"]])
a, b, c = st.columns(3)
values["epochs"] = a.number_input("Passes over the documents", min_value=0.1, value=3.0, step=0.5,
                                  key="adapt:epochs")
values["max_minutes"] = b.number_input(
    "Stop after (minutes, 0 = no limit)", min_value=0.0, value=30.0, step=5.0, key="adapt:minutes",
    help="The encoder is saved when time is up; the learning-rate schedule follows the passes, "
    "so choose passes that fit the time for the best result.")
values["masking"] = c.selectbox("Masking", ["word", "token", "span"], key="adapt:masking",
                                help="word: all pieces of a word hidden together (recommended); "
                                "token: BERT's original; span: runs of words.")
values["overwrite"] = st.checkbox("Replace an existing encoder of that name", key="adapt:overwrite")

running = resources.jobs().running("adapt")
start = st.button("Start adapting", type="primary", key="adapt:start",
                  disabled=bool(running) or (not use_store and upload is None))
if not use_store and upload is None:
    st.caption("Choose documents in the database or upload some.")


def _start() -> str:
    folder = Path(tempfile.mkdtemp(prefix="longbert-adapt-"))
    try:
        paths = [str(save_upload(upload.name, upload.getvalue(), folder))] if upload is not None else []
        config = build_config(values, corpus_paths=paths, from_store=use_store,
                              batch_id=corpus.batch_id if corpus is not None else None,
                              store=store)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = resources.jobs().submit(
        adaptation_work(config, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True)),
        title=config.name, kind="adapt", meta={"output": str(config.output_path)},
    )
    return job.id


if start:
    try:
        st.session_state["adapt:job"] = _start()
    except (LongBertError, ValueError) as error:
        st.error(str(error))

job = resources.jobs().get(st.session_state.get("adapt:job")) or (running[0] if running else None)
if job is None:
    st.stop()

snapshot = job.snapshot()
if not snapshot.finished:

    widgets.live_job(job, "adapt", working="Reading the documents…", stop_label="Stop",
                     stop_help="Saves the run's state; `python -m longbert.pretrain --resume` "
                     "with the same name continues it.")
else:
    if snapshot.status == "done":
        summary = result_summary(snapshot.result)
        if summary["status"] == "done":
            st.success(f"Adapted in {format_duration(snapshot.elapsed)}: saved in "
                       f"`{summary['folder']}`. The Train page offers it under 'Start from'.")
        else:
            st.warning("Stopped before the end: the state is saved in "
                       f"`{summary['folder']}/.last`; continue with `python -m longbert.pretrain "
                       "--resume` and the same name.")
        st.dataframe([{k: v for k, v in summary.items() if k != "notes"}], hide_index=True,
                     key="adapt:summary")
        for note in summary["notes"]:
            st.caption(note)
    elif snapshot.status == "cancelled":
        st.warning("Stopped. Continue with `python -m longbert.pretrain --resume` and the same name.")
    else:
        st.error(f"Adapting failed: {snapshot.error}")
    if snapshot.events:
        st.plotly_chart(charts.training_figure(snapshot.events), key="adapt:final")
