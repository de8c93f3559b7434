"""Adapt encoder: further MLM pre-training on the documents in the database (or an upload), in the
background with progress; the adapted encoder is then a starting point on the Train page.
``python -m longbert.pretrain`` is the full interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app_pages import resources, widgets
from longbert.errors import LongBertError
from longbert.pretraining import PretrainConfig, PretrainResult
from longbert.ui import charts
from longbert.ui.adaptation import (
    MODES,
    adaptation_eta,
    adaptation_work,
    build_config,
    result_summary,
    store_corpora,
)
from longbert.ui.adaptation_runs import (
    StoppedRun,
    keep_upload,
    resume_config,
    stopped_run,
    stopped_runs,
    tidy_finished_uploads,
    tidy_uploads,
)
from longbert.ui.formatting import format_duration
from longbert.ui.models import starting_encoders

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
    help="The run is planned to fit: it first measures this machine's speed and, when the passes "
    "would take longer, plans fewer steps so that the learning-rate schedule (and the new MLM "
    "head's warm-up) ends in time. The encoder is saved when time is up.")
values["masking"] = c.selectbox("Masking", ["word", "token", "span"], key="adapt:masking",
                                help="word: all pieces of a word hidden together (recommended); "
                                "token: BERT's original; span: runs of words.")
values["overwrite"] = st.checkbox("Replace an existing encoder of that name", key="adapt:overwrite")

running = resources.jobs().running("adapt")
start = st.button("Start adapting", type="primary", key="adapt:start",
                  disabled=bool(running) or (not use_store and upload is None))
if not use_store and upload is None:
    st.caption("Choose documents in the database or upload some.")


def _submit(config: PretrainConfig) -> str:
    job = resources.jobs().submit(
        # An upload stays in the output folder while a stopped run's state may read it.
        adaptation_work(config, cleanup=lambda: tidy_uploads(config.output_path)),
        title=config.name, kind="adapt", meta={"output": str(config.output_path)},
    )
    return job.id


def _start() -> str:
    # The upload's name stands for it while the form is checked; nothing is written before that.
    config = build_config(values, corpus_paths=[upload.name] if upload is not None else [],
                          from_store=use_store, batch_id=corpus.batch_id if corpus is not None else None,
                          store=store)
    if upload is not None:
        config.corpus = [str(keep_upload(config.output_path, upload.name, upload.getvalue()))]
    return _submit(config)


def _resume_button(run: StoppedRun, key: str) -> None:
    """Resume ``run`` (its own options, corpus and plan) in the background."""
    if st.button("Resume", key=key, type="primary", disabled=bool(resources.jobs().running("adapt")),
                 help=f"Continues '{run.name}' from step {run.step:,} exactly where it stopped "
                 "(as `python -m longbert.pretrain --resume` with that name does)."):
        try:
            st.session_state["adapt:job"] = _submit(resume_config(run.folder))
        except (LongBertError, ValueError) as error:
            st.error(str(error))
        else:
            st.rerun()


if start:
    try:
        st.session_state["adapt:job"] = _start()
    except (LongBertError, ValueError) as error:
        st.error(str(error))

job = resources.jobs().get(st.session_state.get("adapt:job")) or (running[0] if running else None)
if job is None:
    tidy_finished_uploads()  # no run in this server now: an upload beside a finished encoder is stale
    stopped = stopped_runs()
    if stopped:
        st.subheader("Stopped runs")
        chosen = st.selectbox("Stopped run", stopped, key="adapt:stopped", format_func=lambda r: r.title,
                              help="Runs stopped before their end, with their state saved.")
        _resume_button(chosen, "adapt:resume-stopped")
    st.stop()

snapshot = job.snapshot()
if job.meta.get("plan"):
    st.caption(job.meta["plan"])
if not snapshot.finished:
    widgets.live_job(job, "adapt", working="Reading the documents…", stop_label="Stop",
                     stop_help="Saves the run's state: Resume (here, once it has stopped) continues it.",
                     eta=lambda snap: adaptation_eta(snap, job.meta.get("train_deadline")))
    st.stop()


def _show_result(result: PretrainResult) -> None:
    """How the run itself ended (even when Stop came while a finished run was being saved)."""
    summary = result_summary(result)
    folder = summary["folder"]
    if result.status != "done":
        st.warning(f"Stopped at step {result.steps:,} of {result.total_steps:,}: the state is saved in "
                   f"`{folder}/.last`. Resume continues it exactly where it stopped.")
    elif summary["encoder steps"] == 0:
        st.error(f"The encoder was not trained: the run ended after {result.steps:,} step(s), all of "
                 "them warming up the new MLM head while the encoder stays frozen"
                 + (" (the time limit stopped it)" if result.stopped_by_time else "")
                 + f". `{folder}` holds the starting encoder unchanged, so it gains nothing as a start "
                 "on the Train page. Run again with more minutes (or 0 for no limit) and 'Replace an "
                 "existing encoder of that name' ticked.")
    else:
        st.success(f"Adapted in {format_duration(snapshot.elapsed)}: saved in `{folder}`. The Train "
                   "page offers it under 'Start from'.")
    st.dataframe([{k: v for k, v in summary.items() if k != "notes"}], hide_index=True,
                 key="adapt:summary")
    for note in summary["notes"]:
        st.caption(note)


if snapshot.result is not None:
    _show_result(snapshot.result)
elif snapshot.status == "cancelled":
    st.warning("Stopped before training began: nothing was saved.")
else:
    st.error(f"Adapting failed: {snapshot.error}")
stopped_here = stopped_run(Path(job.meta["output"])) if job.meta.get("output") else None
if stopped_here is not None:
    _resume_button(stopped_here, "adapt:resume")
if snapshot.events:
    st.plotly_chart(charts.training_figure(snapshot.events), key="adapt:final")
