"""Models: registered checkpoints with their metrics and configuration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages import resources, views
from longbert.errors import LongBertError
from longbert.settings import models_dir
from longbert.ui import charts
from longbert.ui.evaluation import evaluate_upload
from longbert.ui.formatting import md
from longbert.ui.model_admin import (
    classifier_keys,
    default_model,
    delete_checkpoint,
    model_label_sets,
    set_default_model,
)
from longbert.ui.models import (
    ZERO_SHOT_KEY,
    ModelChoice,
    checkpoint_row,
    compression_rows,
    is_score,
    metrics_title,
    scan_checkpoints,
    unlisted_models,
)
from longbert.ui.tables import table_frame
from longbert.ui.uploads import LABEL_NAMES, TEXT_NAMES, guess_column, table_columns


def _evaluate(choice: ModelChoice) -> None:
    """Accuracy, macro-F1 and a confusion matrix of ``choice`` on an uploaded labelled file."""
    upload = st.file_uploader("CSV, TSV or JSON Lines with a text and a label column",
                              type=["jsonl", "csv", "tsv", "gz", "json"], key="models:eval-file")
    if upload is None:
        return
    try:
        found = table_columns(upload.name, upload.getvalue())
    except ValueError as error:
        st.error(str(error))
        return
    left, right = st.columns(2)
    text_column = left.selectbox("Text column", found, index=guess_column(found, TEXT_NAMES),
                                 key="models:eval-text")
    label_column = right.selectbox("Label column", found, key="models:eval-label",
                                   index=guess_column(found, LABEL_NAMES, avoid=text_column))
    if st.button("Evaluate", key="models:evaluate", type="primary"):
        try:
            model = resources.load_model(choice.key, None)
            with st.spinner("Classifying the labelled documents…"):
                scores = evaluate_upload(upload.name, upload.getvalue(), text_column, label_column,
                                         model)
        except LongBertError as error:
            st.error(str(error))
            return
        st.session_state["models:scores"] = (choice.key, upload.name, scores)
    kept = st.session_state.get("models:scores")
    if kept is None or kept[0] != choice.key:
        return
    scores = kept[2]
    a, b, c = st.columns(3)
    a.metric("Accuracy", f"{scores.accuracy:.1%}")
    b.metric("Macro-F1", f"{scores.macro_f1:.1%}")
    left_out = [f"{scores.failed} could not be read (left out)" if scores.failed else "",
                f"{scores.duplicates_dropped} repeated texts counted once"
                if scores.duplicates_dropped else ""]
    c.metric("Documents", f"{scores.documents:,}",
             help="; ".join(w for w in left_out if w) + " -- as python -m longbert.evaluate scores "
             "the same file." if any(left_out) else None)
    if scores.confusion:  # multi-label models: accuracy is every label right; no matrix
        st.plotly_chart(charts.confusion_figure(scores.labels, scores.confusion,
                                                title=f"Confusion matrix on {kept[1]}"),
                        key="models:confusion")


st.title("Models")
store = resources.store()
if (done := st.session_state.pop("models:done", None)) is not None:
    st.success(done)
checkpoints, problems = scan_checkpoints()
registered = {m.name: m for m in store.list_models()}
st.caption(f"Checkpoints are folders under `{models_dir()}` (set `LONGBERT_MODELS_DIR` to move "
           "them); trained models are also registered in the database with their metrics.")
for problem in problems:
    st.warning(f"Skipped a broken checkpoint: {problem}")

if not checkpoints:
    st.info(
        "No trained model yet. Label a batch with zero-shot labels, correct them, and train the "
        "first model on the **Train** page (or run `python -m longbert.train --help`). Until "
        "then, every page offers zero-shot labelling with the packaged default encoder."
    )




def _with_label_sets(row: dict, choice: ModelChoice) -> dict:
    """The table row with the model's label sets by name, next to its labels."""
    names = [choice.title, *([Path(choice.path).name] if choice.path else [])]
    sets = model_label_sets(store, names, choice.labels)
    at = list(row).index("labels") + 1
    items = list(row.items())
    return dict([*items[:at], ("label sets", ", ".join(sets) or "—"), *items[at:]])


rows = [_with_label_sets(checkpoint_row(choice, registered), choice) for choice in checkpoints]
if rows:
    frame = table_frame(rows, list(dict.fromkeys(k for r in rows for k in r)))
    st.dataframe(frame, hide_index=True, key="models:table", column_config=views.column_config(
        frame, dev_docs=st.column_config.Column(
            "dev docs", help="Documents the metrics were measured on (the dev set)",
            alignment="right")))
    keys = sorted({k for r in rows for k in r if is_score(k)})
    if keys:
        st.plotly_chart(
            charts.metrics_figure(
                [{"name": r["name"], "metrics": {k: r.get(k) for k in keys}} for r in rows],
                keys[:6], title=metrics_title(rows)),
            key="models:metrics",
        )
        if any(r.get("dev_docs") is not None and r["dev_docs"] < 30 for r in rows):
            st.caption("Metrics from a dev set of a few dozen documents or fewer move a lot with "
                       "each document; treat them as a rough guide.")
    if compressed := compression_rows(checkpoints):
        st.subheader("Compressed models beside their sources")
        st.dataframe(table_frame(compressed, list(compressed[0])), hide_index=True,
                     key="models:compressed")
        st.caption("Made by `python -m longbert.compress`. Accuracy, macro-F1 and docs/s were "
                   "measured by it on the dev file named, both models in one process on the "
                   "machine that compressed them (docs/s: each model's best of a few warm rounds, "
                   "the two taking turns); blank where no `--dev` file was given.")
    picked = st.selectbox("Details of", range(len(rows)), key="models:detail",
                          format_func=lambda i: f"{rows[i]['name']} ({rows[i]['folder']})")
    choice = checkpoints[picked]
    # Only a classifier can be the default: the other pages offer nothing else.
    default = default_model(store, classifier_keys(checkpoints))
    encoder = choice.kind == "encoder"
    st.caption("Default model of every page: "
               + ("zero-shot" if default == ZERO_SHOT_KEY else md(Path(default).name))
               + ". A newly trained model never becomes the default by itself.")
    left, middle, right = st.columns(3)
    if encoder:
        st.caption(f"{md(choice.title)} is an adapted encoder: a starting point for training "
                   "(Train page, *Start from*) or for zero-shot labelling, not a classifier. It "
                   "cannot be the default model or be evaluated on labelled documents.")
    if left.button("Make it the default model", key="models:default",
                   disabled=default == choice.key or encoder,
                   help="Every page (and every browser session) starts with this model."):
        set_default_model(store, choice.key)
        st.session_state.pop("shared:model", None)
        st.rerun()
    if middle.button("Make zero-shot the default", key="models:default-zero-shot",
                     disabled=default == ZERO_SHOT_KEY):
        set_default_model(store, ZERO_SHOT_KEY)
        st.session_state.pop("shared:model", None)
        st.rerun()
    with right.popover("Delete this model…"):
        st.caption(f"Deletes the folder `{choice.path}`. Predictions made with it keep their "
                   "record in History.")
        if st.button("Delete it", key="models:delete", type="primary"):
            try:
                delete_checkpoint(store, str(choice.path))
            except LongBertError as error:
                st.error(str(error))
            else:
                st.session_state["models:done"] = f"Deleted {md(choice.title)}."
                st.session_state.pop("shared:model", None)
                st.rerun()
    if not encoder:
        with st.expander("Evaluate on a labelled file"):
            _evaluate(choice)
    left, right = st.columns(2)
    with left:
        st.markdown("**Configuration**")
        st.json({"labels": list(choice.labels), "strategy": choice.strategy,
                 "encoder": choice.encoder, "multi_label": choice.multi_label,
                 "folder": choice.path, "saved_at": choice.saved_at}, expanded=True)
    with right:
        st.markdown("**Metrics and training metadata**")
        st.json(choice.metadata or {"metrics": "none recorded"}, expanded=False)

others = unlisted_models(list(registered.values()), checkpoints)
if others:
    st.subheader("Other models seen in predictions")
    st.caption("Zero-shot labellings, and models whose checkpoint was deleted or moved: their "
               "predictions keep their record in History.")
    st.dataframe(pd.DataFrame([
        {"name": m.name,
         "kind": m.kind if m.folder is None or m.zero_shot or Path(m.folder).is_dir()
         else f"{m.kind} (checkpoint deleted)",
         "labels": ", ".join(m.labels),
         "label sets": ", ".join(model_label_sets(store, [m.name])) or "—",
         "first used": m.created_at.strftime("%Y-%m-%d %H:%M")} for m in others
    ]), hide_index=True, key="models:others")
