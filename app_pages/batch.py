"""Batch label: many files at once, live progress, results as they come, corrections, export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import streamlit as st

from app_pages import batch_tools, resources, views, widgets
from longbert.readers import SUPPORTED_EXTENSIONS, ReadLimits
from longbert.readers.base import MB
from longbert.ui import charts
from longbert.ui.batch_jobs import BatchSettings, batch_classify, upload_work
from longbert.ui.batch_results import display_rows, gold_scores
from longbert.ui.corrections import batch_labels, confirm_labels, out_of_step, save_corrections, unconfirmed
from longbert.ui.exit_control import batch_threshold_note
from longbert.ui.formatting import (
    files_to_documents,
    format_duration,
    md,
    plural,
    progress_text,
)
from longbert.ui.jobs import Job
from longbert.ui.label_studio import label_studio_tasks
from longbert.ui.tables import (
    EXIT_THRESHOLD_HELP,
    NO_CORRECTION,
    RESULT_COLUMNS,
    batch_rows,
    table_frame,
    to_csv,
    to_jsonl,
    to_parquet,
)

st.title("Batch label")
store = resources.store()

with st.sidebar:
    choice, labels = widgets.model_picker("batch")
    strategy, strategy_ok = widgets.strategy_picker("batch", choice)
    exit_threshold, threshold_ok = widgets.exit_threshold_picker("batch", choice, strategy)

uploads = st.file_uploader(
    "Files to label", accept_multiple_files=True, key="batch:files",
    help="txt, md, html, pdf, docx; csv/tsv/jsonl with one document per row (column `text`); "
    "zip archives of such files (nested folders are fine).",
)
widgets.upload_limit_caption()
st.caption(f"Readable formats: {', '.join(SUPPORTED_EXTENSIONS)}. Other files get an error row.")
text_column = st.text_input("Text column in CSV / JSON Lines files", "text",
                            key="batch:text_column", width=320) or "text"
current = resources.jobs().get(st.session_state.get("batch:job"))
labelling = current is not None and not current.snapshot().finished
# One batch at a time: another tab's job (or a resume from History) and a batch a live worker
# elsewhere holds (another server, the CLI) block a new start too, not only this tab's job.
busy = None
if labelling:
    busy = "One batch at a time per browser tab: wait for this one, or stop it."
else:
    elsewhere = [j.title for j in resources.jobs().running("batch")]
    elsewhere += [f"#{b.id} {b.name}" + (f", by {b.worker_host} process {b.worker_pid}"
                                         if b.worker_host else "")
                  for b in store.list_batches(status="running")]
    if elsewhere:
        busy = (f"Another batch is being labelled ({elsewhere[0]}): one batch at a time. Wait "
                "for it to finish (History shows its progress), or stop it there.")
        st.caption(busy)
start = st.button(
    "Start labelling", type="primary", key="batch:start",
    disabled=busy is not None or not uploads or not strategy_ok or not threshold_ok
    or (choice.zero_shot and labels is None),
    help=busy,
)


def _start(files: list[Any]) -> Job:
    model = resources.load_model(choice.key, labels)
    label_set = widgets.current_label_set() if choice.zero_shot else None
    settings = BatchSettings(model=choice.key, model_name=model.name, strategy=strategy,
                             labels=labels, files=[f.name for f in files],
                             text_column=text_column, label_set=label_set,
                             exit_threshold=exit_threshold)
    name = f"{len(files)} file{'s' if len(files) != 1 else ''} · {datetime.now():%Y-%m-%d %H:%M}"
    limits = ReadLimits(max_file_bytes=int(st.get_option("server.maxUploadSize")) * MB)
    # One file's bytes at a time go to the readers (a generator); texts are spooled to disk. The
    # batch keeps its threshold: a resume from History runs at it too (batch_classify).
    work = upload_work(store, name, ((f.name, f.getvalue()) for f in files), settings,
                       batch_classify(model, settings),
                       num_files=len(files), limits=limits)
    return resources.jobs().submit(work, title=name, kind="batch", meta={"files": len(files)})


if start and uploads:
    try:
        job = _start(list(uploads))
    except Exception as error:  # a model that cannot load: say so, keep the page usable
        st.error(str(error))
    else:
        st.session_state["batch:job"] = job.id
        st.session_state.pop("batch:open", None)


def _live(job: Job) -> None:
    """Progress and the rows so far, refreshed every second while the job runs."""

    @st.fragment(run_every=1.0)
    def live() -> None:
        snap = job.snapshot()
        if snap.finished:
            st.rerun(scope="app")
        st.progress(snap.fraction, text=progress_text(snap.done, snap.total or 0,
                                                       snap.eta_seconds, snap.errors))
        st.caption(f"{snap.message} Elapsed {format_duration(snap.elapsed)}.")
        if snap.rows:
            frame = table_frame(snap.rows, RESULT_COLUMNS, keep=("confidence",))
            st.dataframe(frame, hide_index=True, key="batch:live",
                         column_config=views.column_config(frame, **COLUMN_CONFIG))
        if st.button("Stop", key="batch:stop"):
            job.cancel()
            st.toast("Stopping after the current documents… resume it later from History.")

    live()


COLUMN_CONFIG: dict[str, Any] = {
    "confidence": st.column_config.ProgressColumn("confidence", min_value=0, max_value=1,
                                                  format="percent"),
    "error": st.column_config.TextColumn("error", width="medium",
                                         help="Why the file or row could not be labelled"),
    "exit_threshold": st.column_config.Column("exit_threshold", help=EXIT_THRESHOLD_HELP,
                                              alignment="right"),
}


def _results(batch_id: int, files: int | None = None) -> None:
    """The finished (or stopped) batch: correctable table and downloads."""
    batch = store.get_batch(batch_id)
    rows = batch_rows(store, batch_id)
    options = batch_labels(store, batch.config)
    if files is None:
        listed = batch.config.get("files") or []
        files = len(listed) if 0 < len(listed) < 200 else None  # the config keeps 200 names
    st.subheader(f"Results: {batch.name}")
    worker = f" ({batch.worker})" if batch.worker else ""
    expanded = files not in (None, batch.total)
    ran_at = md(batch_threshold_note(batch.config))  # every run of the batch labels at it
    st.caption(f"{files_to_documents(files, batch.total)} · {batch.done:,} labelled · "
               f"{batch.errors:,} with errors · {batch.pending:,} pending · status "
               f"{batch.status}{worker}{ran_at}" + (" (each row of a CSV/JSON Lines file and each "
                                                    "file in a zip is a document)" if expanded else ""))
    # One editor per batch, kept across saves (the grid keeps its scroll place); each edit is
    # applied once (``applied``), so an old edit never re-applies over a later change. Streamlit
    # keeps an edited cell's value across reruns, so where the store no longer holds what such a
    # cell shows (a refused edit, a label set elsewhere since, the correction before one taken back)
    # the grid starts afresh (a new generation): every cell then shows what is in force, and the
    # ids in force the grid showed (``seen``) are what the next edit is judged against.
    generation = st.session_state.setdefault(f"batch:generation:{batch_id}", 0)
    key = f"batch:editor:{batch_id}:{generation}"
    edits = st.session_state.get(key, {}).get("edited_rows", {})
    applied = st.session_state.setdefault(f"batch:applied:{batch_id}:{generation}", {})
    seen = st.session_state.get(f"batch:seen:{batch_id}")
    outcome = save_corrections(store, rows, edits, applied, seen)
    if outcome.saved or outcome.removed or outcome.refused:
        rows = batch_rows(store, batch_id)
    updated = rows
    if outcome.saved:
        st.toast(f"Saved {plural(outcome.saved, 'correction')}.")
    if outcome.removed:
        removed = outcome.removed
        st.toast(f"Removed the correction of {', '.join(md(n) for n in removed[:5])}"
                 f"{' …' if len(removed) > 5 else ''}: the one before it, or the predicted label, "
                 "counts again.")
    if refused := outcome.refused:
        st.warning("Not saved -- changed elsewhere since this table was drawn: "
                   + "; ".join(f"{md(name)}: {md(why)}" for name, why in refused[:5])
                   + (" …" if len(refused) > 5 else ""))
    if refused or out_of_step(rows, applied):
        if not refused:
            st.info("Labels in force changed since this table was drawn (set elsewhere, or the "
                    "correction before one taken back): the table shows them now.")
        st.session_state[f"batch:generation:{batch_id}"] = generation + 1
        st.session_state.pop(f"batch:applied:{batch_id}:{generation}", None)
        key = f"batch:editor:{batch_id}:{generation + 1}"
    shown, columns = display_rows(store, rows)
    st.session_state[f"batch:seen:{batch_id}"] = {i: r.get("correction_id") for i, r in enumerate(shown)}
    frame = table_frame(shown, columns, keep=("confidence",), fill={"correction": NO_CORRECTION})
    st.data_editor(
        frame, key=key, hide_index=True, num_rows="fixed",
        disabled=[c for c in columns if c != "correction"],
        column_config={
            **views.column_config(frame, **COLUMN_CONFIG),
            "preview": st.column_config.TextColumn("text", width="large",
                                                   help="The start of the document's text"),
            # required: no blank choice besides "—" (one way to say "no correction").
            "correction": st.column_config.SelectboxColumn(
                "correction", options=[NO_CORRECTION, *options], required=True,
                help="Set the right label; it is saved at once and can be used to train a "
                f"model. {NO_CORRECTION} removes a saved correction."),
        },
    )
    if (said := st.session_state.pop(f"batch:confirmed:{batch_id}", None)) is not None:
        (st.warning if "Skipped" in said else st.success)(said)
    opened = st.selectbox(
        "Open a document's highlighted view", [None, *[int(r["prediction_id"]) for r in shown
                                                      if r.get("prediction_id") is not None]],
        key=f"batch:view:{batch_id}", format_func=lambda i: "— pick a labelled document —"
        if i is None else next(f"{r['document']}" + (f" · {r['title']}" if r.get("title") else "")
                              for r in shown if r.get("prediction_id") == i))
    if opened is not None:
        stored = store.get_prediction(opened)
        with st.container(border=True):
            views.render_prediction(stored.prediction, stored.document, f"batch:view:{opened}",
                                    prediction_id=opened)
    judged = gold_scores(updated, options)
    if judged is not None:
        column, scores = judged
        st.markdown(f"**Against the upload's `{md(column)}` column** ({scores.documents:,} "
                    "labelled documents with a value; corrections count where there are some)")
        a, b = st.columns(2)
        a.metric("Accuracy", f"{scores.accuracy:.1%}")
        b.metric("Macro-F1", f"{scores.macro_f1:.1%}")
        st.plotly_chart(charts.confusion_figure(scores.labels, scores.confusion,
                                                title=f"Labels against '{column}'"),
                        key=f"batch:confusion:{batch_id}")
    left, middle, right = st.columns(3)
    left.download_button("Download CSV", to_csv(updated), file_name=f"batch-{batch_id}.csv",
                         mime="text/csv", key="batch:csv",
                         help="Every result with the source row's own columns (id, title...) "
                         "and each label's probability (p_<label>). final_label is the label in "
                         "force (a correction, else the model's); for a multi-label model, the "
                         "labels in force joined with ', ' (empty: no label applies), listed one "
                         "by one in final_labels. exit_threshold is the early-exit threshold each "
                         "prediction ran at (empty for a model without early exits).")
    middle.download_button("Download JSON Lines", to_jsonl(updated),
                           file_name=f"batch-{batch_id}.jsonl", mime="application/jsonl",
                           key="batch:jsonl")
    more = f"batch:more-formats:{batch_id}"
    if st.session_state.get(more):
        left.download_button("Download Parquet", to_parquet(updated),
                             file_name=f"batch-{batch_id}.parquet",
                             mime="application/vnd.apache.parquet", key="batch:parquet")
        middle.download_button(
            "Download for Label Studio", label_studio_tasks(store, updated),
            file_name=f"batch-{batch_id}-label-studio.json", mime="application/json",
            key="batch:label-studio", help="Label Studio tasks (choices 'label' on 'text') with "
            "LongBERT's labels as pre-annotations (predictions with scores).")
    elif left.button("More formats (Parquet, Label Studio)…", key="batch:more-formats"):
        st.session_state[more] = True
        st.rerun()
    threshold = right.slider(
        "Confirm labels with confidence of at least", 0, 100, 0, step=5, format="%d%%",
        key=f"batch:confirm-threshold:{batch_id}",
        help="Bulk accept only the labels the model is sure of; check the rest one by one.")
    waiting = unconfirmed(updated, threshold / 100)
    if right.button(f"Confirm the {len(waiting)} uncorrected labels", key="batch:confirm",
                    disabled=not waiting,
                    help="Records the predicted labels (at or above the confidence above) as "
                    "checked by a person, so they can be used as training data on the Train "
                    "page. A text a person labelled otherwise (here or in another batch) is "
                    "skipped, never overruled."):
        confirmed = confirm_labels(store, updated, threshold / 100)
        st.session_state[f"batch:confirmed:{batch_id}"] = confirmed.message
        st.rerun()
    with st.expander("Why these labels? Explain a sample"):
        batch_tools.explain_sample_section(batch_id, updated)


with st.expander("Import from Label Studio"):
    batch_tools.label_studio_import_section()

job = resources.jobs().get(st.session_state.get("batch:job"))
if job is not None:
    snap = job.snapshot()
    if not snap.finished:
        _live(job)
    else:
        batch_id = job.meta.get("batch_id")
        if snap.status == "failed":
            st.error(f"The batch stopped: {snap.error}")
        elif snap.status == "cancelled":
            st.warning("The batch was stopped. Everything labelled so far is saved; resume the "
                       "rest from History.")
        else:
            files = job.meta.get("files")
            if job.meta.get("resumed"):  # count this run's documents, not the earlier ones
                st.success(f"Done: {plural(int(job.meta.get('ran', 0)), 'document')} labelled in "
                           f"this run ({plural(int(job.meta.get('run_errors', 0)), 'error')}) in "
                           f"{format_duration(snap.elapsed)}; the batch is complete.")
            else:
                st.success(f"Done: {files_to_documents(files, snap.done)} "
                           f"({plural(snap.errors, 'error')}) in {format_duration(snap.elapsed)}.")
        if batch_id is not None:
            _results(int(batch_id), job.meta.get("files"))
else:
    earlier = store.list_batches(limit=50)
    if earlier:
        picked = st.selectbox(
            "Or open an earlier batch", [None, *[b.id for b in earlier]], key="batch:open",
            format_func=lambda i: "—" if i is None else next(
                f"#{b.id} {b.name} ({b.status})" for b in earlier if b.id == i),
        )
        if picked is not None:
            _results(int(picked))
