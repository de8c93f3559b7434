"""The Batch label page's tools below a batch's results: explaining a sample of its predictions
in the background, and importing a Label Studio export (thin UI over ``longbert.ui``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_pages import resources
from longbert.errors import LongBertError
from longbert.ui.explain_jobs import SAMPLE_ORDERS, explain_sample_work, sample_predictions
from longbert.ui.explanations import FULL_DEPTH_METHODS, METHOD_ORDER, method_help, method_title, model_source
from longbert.ui.formatting import md, plural, progress_text
from longbert.ui.label_studio import import_label_studio
from longbert.ui.service import load_model as load_uncached


def explain_sample_section(batch_id: int, rows: list[dict[str, Any]]) -> None:
    """Explain a sample of the batch in the background; each explanation is stored with its
    prediction (the document's highlighted view shows it)."""
    store = resources.store()
    prefix = f"batch:why:{batch_id}"
    job = resources.jobs().find("explain", batch_id=batch_id)
    left, middle, right = st.columns(3)
    size = left.number_input("Documents", 1, 200, 10, key=f"{prefix}:size")
    order = middle.selectbox(
        "Which", list(SAMPLE_ORDERS), format_func=SAMPLE_ORDERS.__getitem__, key=f"{prefix}:order"
    )
    method = right.selectbox("Method", METHOD_ORDER, format_func=method_title, key=f"{prefix}:method")
    st.caption(f"{method_title(method)}: {method_help(method)}")
    full_model = method in FULL_DEPTH_METHODS and st.checkbox(
        "Explain the full model where a prediction was made with early exits",
        key=f"{prefix}:full-model",
        help="Occlusion and the gradient methods run every layer, so they cannot explain a "
        "prediction an early-exit model made with its exits: unticked, those documents are "
        "listed with the reason (Attention reads the layers the model ran). Ticked, they "
        "explain the full model instead (every layer, no exits); each such explanation says "
        "so, and its probabilities can differ from the prediction's.",
    )
    running = job is not None and not job.snapshot().finished
    if st.button("Explain the sample", key=f"{prefix}:go", disabled=running):
        ids = sample_predictions(rows, int(size), order)
        if not ids:
            st.warning("No labelled document in this batch yet.")
            return
        try:
            first = store.get_prediction(ids[0]).prediction
            source = model_source(store, first)
            classifier = resources.load_model(source.key, source.labels)
        except LongBertError as error:
            st.error(str(error))
            return
        job = resources.jobs().submit(
            explain_sample_work(
                store,
                ids,
                method,
                lambda key, labels: (
                    classifier if (key, labels) == (source.key, source.labels) else load_uncached(key, labels)
                ),
                full_model=full_model,
            ),
            title=f"explain batch {batch_id}",
            kind="explain",
            meta={"batch_id": batch_id},
        )
    if job is None:
        st.caption(
            "Each explanation is stored with its prediction: open the document's "
            "highlighted view above to see it in the text."
        )
        return

    @st.fragment(run_every=2.0 if running else None)
    def progress() -> None:
        snap = job.snapshot()
        if running and snap.finished:
            st.rerun(scope="app")
        st.progress(
            snap.fraction,
            text=progress_text(snap.done, snap.total or 0, snap.eta_seconds, snap.errors)
            if snap.total
            else "Starting…",
        )
        if snap.rows:
            st.dataframe(snap.rows, hide_index=True, key=f"{prefix}:rows")
        if snap.status == "failed":
            st.error(f"Explaining stopped: {snap.error}")
        elif not snap.finished and st.button("Stop", key=f"{prefix}:stop"):
            job.cancel()

    progress()


def label_studio_import_section() -> None:
    """A Label Studio JSON export into the database, under a label set."""
    st.caption(
        "Tasks' predictions are kept as predictions; annotations become corrections "
        "(usable for training on the Train page). Text classification exports only "
        "(a choices control on a text)."
    )
    store = resources.store()
    upload = st.file_uploader("Label Studio JSON export", type=["json"], key="batch:ls-file")
    name = st.text_input(
        "Label set",
        key="batch:ls-label-set",
        help="The label set the annotations belong to: made if new; an existing "
        "one keeps its labels and descriptions and gains the labels the file adds.",
    )
    per_text = st.radio(
        "Labels per text",
        list(_LABELS_PER_TEXT),
        horizontal=True,
        key="batch:ls-multi",
        help="Detect: as the label set's earlier predictions "
        "are, else several when a task of the file has several choices.",
    )
    if st.button("Import", key="batch:ls-import", disabled=upload is None or not name.strip()):
        try:
            done = import_label_studio(store, upload.getvalue(), name, multi_label=_LABELS_PER_TEXT[per_text])
        except LongBertError as error:
            st.error(str(error))
            return
        kind = "multi-label" if done.multi_label else "single-label"
        st.success(
            f"Imported {plural(done.tasks, 'task')}: {plural(done.predictions, 'prediction')}"
            f", {plural(done.corrections, 'correction')} into the {kind} label set "
            f"{md(name.strip())} (see History)."
        )
        if done.added_labels:
            made = "New label set with" if done.new_label_set else "Labels added to the set:"
            st.info(f"{made} {md(', '.join(done.added_labels))}.")
        if done.already_imported:
            st.info(f"{plural(done.already_imported, 'task')} imported before, left as they were.")
        if done.legacy:
            st.info(
                f"{plural(done.legacy, 'task')} imported by an older LongBERT, which did not "
                "record its annotations: left as they were (new annotations there were not added)."
            )
        for reason in done.not_applied[:20]:
            st.warning(f"Not applied: {md(reason)}")
        for reason in done.skipped[:20]:
            st.warning(f"Skipped {md(reason)}")
        if len(done.skipped) > 20:
            st.warning(f"… and {plural(len(done.skipped) - 20, 'more skipped task')}.")


#: The import's choices of labels per text (None: detect).
_LABELS_PER_TEXT: dict[str, bool | None] = {"Detect": None, "One": False, "Several": True}
