"""Train: labelled data (an upload or the app's corrections), strategy, main options; runs in the
background with a live loss/metric chart. ``python -m longbert.train`` is the full interface."""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages import resources, widgets
from longbert.errors import LongBertError
from longbert.ui import charts
from longbert.ui.corrections import export_without_conflicts
from longbert.ui.formatting import format_duration, plural
from longbert.ui.jobs import Job
from longbert.ui.judging import judged, small_run_log_every, train_and_judge
from longbert.ui.models import ZERO_SHOT_CHOICE, starting_encoders
from longbert.ui.training import (
    FEW_SHOT_METHOD_TITLES,
    MODE_TITLES,
    OptionSpec,
    advanced_specs,
    build_config,
    corrections_by_label_set,
    export_corrections,
    few_shot_method_help,
    mode_help,
    option_specs,
    save_upload,
    training_work,
    write_descriptions,
)
from longbert.ui.uploads import (
    COLUMN_OPTIONS,
    LABEL_NAMES,
    TEXT_NAMES,
    guess_column,
    table_columns,
)

st.title("Train a model")
st.caption("Fine-tunes the packaged encoder with a [CLS] classification head, or, from a handful "
           "of labels, trains it few-shot. For every option (other encoders, GPUs, config files) "
           "use `python -m longbert.train --help`.")
store = resources.store()

SOURCES = ["Corrections collected in the app", "Upload a labelled file"]
source = st.radio("Training data", SOURCES, key="train:source", horizontal=True)
upload = None
leave_out = False
columns: dict[str, Any] = {}
columns_ok = True
chosen = None
if source == SOURCES[0]:
    by_label_set = corrections_by_label_set(store)  # label set name -> one set per model
    if by_label_set:
        def _set_title(name: str) -> str:
            return f"{name} · {plural(sum(c.documents for c in by_label_set[name]), 'document')}"

        picked = st.selectbox(
            "Label set", list(by_label_set), key="train:label_set", format_func=_set_title,
            help="The corrections made under one label set (Classify, Batch label and History "
            "show each prediction's label set).")
        made_with = {c.key: c for c in by_label_set.get(picked, [])}
        if len(made_with) > 1:
            # The export never mixes models' predictions: one model's corrections at a time.
            chosen = made_with[st.selectbox(
                "Corrections of the predictions made with", list(made_with), key="train:corrections",
                format_func=lambda k: f"{made_with[k].model} ({plural(made_with[k].documents, 'document')})")]
        elif made_with:
            chosen = next(iter(made_with.values()))
            st.caption(f"Labels {', '.join(chosen.labels)}; predictions made with {chosen.model}.")
    count = chosen.documents if chosen is not None else 0
    st.caption(f"{plural(count, 'document')} with a corrected or confirmed label (Batch label and "
               "History pages). A few dozen per label give a usable first model.")
    if chosen is not None and chosen.conflicts:
        st.warning(f"{plural(chosen.conflicts, 'document')} of these have conflicting corrections "
                   "(people set different labels on predictions of the same text). Training "
                   "never picks one: settle them in History (filter 'Only conflicting "
                   "corrections'), or leave them out.")
        leave_out = st.checkbox(f"Leave the {plural(chosen.conflicts, 'conflicting document')} "
                                "out of training", key="train:leave-out-conflicts")
else:
    upload = st.file_uploader("JSON Lines or CSV with a text and a label column (optionally .gz)",
                              type=["jsonl", "csv", "tsv", "gz", "json"], key="train:file")
    if upload is not None:
        try:
            found = table_columns(upload.name, upload.getvalue())
        except ValueError as error:
            st.error(str(error))
            columns_ok = False
        else:
            left, right = st.columns(2)
            columns["text_column"] = left.selectbox(
                "Text column", found, index=guess_column(found, TEXT_NAMES), key="train:text_column",
                help="The column (JSON field) holding each document's text.")
            columns["label_column"] = right.selectbox(
                "Label column", found, key="train:label_column",
                index=guess_column(found, LABEL_NAMES, avoid=columns["text_column"]),
                help="The column holding each document's label (several labels: separated by "
                "the label delimiter under Advanced options).")
            if columns["text_column"] == columns["label_column"]:
                st.error("The text and the label column must be different columns.")
                columns_ok = False

strategy, strategy_ok = widgets.strategy_picker("train", ZERO_SHOT_CHOICE, allow_own=False)


def _widget(spec: OptionSpec, key: str) -> Any:
    if spec.kind == "bool":
        return st.checkbox(spec.label, value=spec.default, key=key, help=spec.help)
    if spec.kind == "choice":
        return st.selectbox(spec.label, spec.choices, index=spec.choices.index(spec.default),
                            key=key, help=spec.help)
    if spec.kind == "int":
        return st.number_input(spec.label, value=int(spec.default), step=1, key=key,
                               help=spec.help)
    if spec.kind == "float":
        step = 10 ** math.floor(math.log10(spec.default)) if spec.default > 0 else 0.01
        return st.number_input(spec.label, value=float(spec.default), key=key, help=spec.help,
                               format="%.6g", step=float(step), min_value=0.0)
    return st.text_input(spec.label, value=str(spec.default), key=key, help=spec.help)


values: dict[str, Any] = {}
mode_column, method_column, encoder_column = st.columns(3)
values["mode"] = mode_column.selectbox("Training mode", list(MODE_TITLES), key="train:mode",
                                       format_func=MODE_TITLES.__getitem__, help=mode_help())
values["few_shot_method"] = method_column.selectbox(
    "Few-shot method", list(FEW_SHOT_METHOD_TITLES), key="train:few_shot_method",
    format_func=FEW_SHOT_METHOD_TITLES.__getitem__, help=few_shot_method_help(),
    disabled=values["mode"] == "fine-tune")
starts = starting_encoders()
values["encoder"] = encoder_column.selectbox(
    "Start from", [s.key for s in starts], key="train:encoder",
    format_func=lambda key: next(s.title for s in starts if s.key == key),
    help="The packaged encoder, or one adapted to your documents on the Adapt encoder page "
    "(further pre-trained; often the better start for a specialised vocabulary).")
main = option_specs(("name", "epochs", "batch_size", "learning_rate"))
for column, spec in zip(st.columns(len(main)), main, strict=True):
    with column:
        values[spec.name] = _widget(spec, f"train:{spec.name}")
with st.expander("Advanced options"):
    # Grouped as TrainConfig groups them (data, model, optimisation, hardware, run): one tab each.
    groups: dict[str, list[OptionSpec]] = {}
    for spec in advanced_specs():
        if spec.name not in COLUMN_OPTIONS:  # chosen above from the uploaded file's columns
            groups.setdefault(spec.group or "other", []).append(spec)
    for tab, specs in zip(st.tabs([g.capitalize() for g in groups]), groups.values(),
                                   strict=True):
        with tab:
            halves = st.columns(2)
            for i, spec in enumerate(specs):
                with halves[i % 2]:
                    values[spec.name] = _widget(spec, f"train:{spec.name}")
values.update(columns)
# Small runs report every step, so the live chart moves from the first steps on.
documents = chosen.documents if chosen is not None else (
    upload.getvalue().count(b"\n") + 1 if upload is not None else 0)
values["log_every"] = small_run_log_every(values, documents)

running = resources.jobs().running("train")
start = st.button("Start training", type="primary", key="train:start",
                  disabled=bool(running) or not strategy_ok
                  or (source == SOURCES[1] and (upload is None or not columns_ok)))


def _start() -> Job:
    folder = Path(tempfile.mkdtemp(prefix="longbert-train-"))
    try:
        if upload is not None:
            path = save_upload(upload.name, upload.getvalue(), folder)
        elif leave_out and chosen is not None:
            path, said = export_without_conflicts(store, folder, chosen)
            if said:
                st.warning(said)
        else:
            path = export_corrections(store, folder, chosen)  # a conflict: a StoreError naming it
        if chosen is not None and upload is None:  # few-shot learns from the label set's descriptions
            values["label_descriptions"] = write_descriptions(store, chosen.label_set_name, folder)
        config = build_config(values, train_path=str(path), strategy=strategy)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return resources.jobs().submit(
        training_work(config, train_and_judge, cleanup=lambda: shutil.rmtree(folder, ignore_errors=True)),
        title=config.name, kind="train", meta={"output": str(config.output_path)},
    )


if start:
    try:
        job = _start()
    except LongBertError as error:
        st.error(str(error))
    else:
        st.session_state["train:job"] = job.id

job = resources.jobs().get(st.session_state.get("train:job")) or (running[0] if running else None)
if job is None:
    st.stop()

snapshot = job.snapshot()
if not snapshot.finished:

    widgets.live_job(job, "train", working="Training…", stop_label="Stop training")
else:
    if snapshot.status == "done":
        output = job.meta.get("output")
        run = snapshot.result.get("result") if isinstance(snapshot.result, dict) else None
        used = (run.history[-1].get("mode") if run is not None and run.history else None) or "fine-tune"
        st.success(f"Training ({used}) finished in {format_duration(snapshot.elapsed)}. The model is "
                   f"saved in `{output}`. It is offered on every page, but the default model "
                   "stays as it is until you choose (Models page).")
        verdict, problem = judged(snapshot.result)
        if verdict is not None:
            (st.info if verdict.better else st.warning)(verdict.message)
            st.dataframe(verdict.rows(), hide_index=True, key="train:verdict", column_config={
                "accuracy": st.column_config.NumberColumn(format="percent"),
                "macro_f1": st.column_config.NumberColumn("macro-F1", format="percent")})
        elif problem:
            st.caption(f"Not compared with the baselines: {problem}")
        if output and st.button("Use it on the Classify page", key="train:use"):
            st.session_state["shared:model"] = str(Path(output).resolve())
            st.switch_page("app_pages/classify.py")
    elif snapshot.status == "cancelled":
        st.warning("Training was stopped. Fine-tuning continues with `python -m longbert.train "
                   "--resume` and the same name; a few-shot run keeps no state: start it again.")
    else:
        st.error(f"Training failed: {snapshot.error}")
    if snapshot.events:
        st.plotly_chart(charts.training_figure(snapshot.events), key="train:final")
