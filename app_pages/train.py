"""Train: labelled data (an upload or the app's corrections), strategy, main options; runs in the
background with a live loss/metric chart. ``python -m longbert.train`` is the full interface."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import streamlit as st

from app_pages import resources, widgets
from longbert.config_fields import check_name
from longbert.errors import LongBertError
from longbert.settings import models_dir
from longbert.training.config import TrainConfig, TrainConfigError
from longbert.ui import charts
from longbert.ui.correction_texts import correction_set_title, corrections_by_label_set_with_texts
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
    export_corrections,
    few_shot_method_help,
    label_set_title,
    mode_help,
    option_specs,
    save_upload,
    training_work,
    write_descriptions,
)
from longbert.ui.training_runs import (
    InterruptedRun,
    check_corrections_labels,
    data_folder,
    interrupted_run,
    name_problem,
    resume_config,
    tidy_training_data,
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
    # label set name -> one set per model, and the distinct texts corrected under it
    by_label_set = corrections_by_label_set_with_texts(store)
    if by_label_set:
        def _set_title(name: str) -> str:
            return f"{name} · {plural(by_label_set[name].texts, 'document')}"

        picked = st.selectbox(
            "Label set", list(by_label_set), key="train:label_set", format_func=_set_title,
            help="The corrections made under one label set (Classify, Batch label and History "
            "show each prediction's label set).")
        made_with = {c.key: c for c in (by_label_set[picked].sets if picked in by_label_set else [])}
        if len(made_with) > 1:
            # The export never mixes models' predictions: one model's corrections at a time
            # (two versions of one label set, edited between labellings, differ by their labels).
            chosen = made_with[st.selectbox(
                "Corrections of the predictions made with", list(made_with), key="train:corrections",
                format_func=lambda k: correction_set_title(made_with[k]))]
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
                    if spec.name == "multi_label" and chosen is not None and source == SOURCES[0]:
                        # The corrections are of a single- or multi-label model: their kind.
                        values[spec.name] = st.checkbox(
                            spec.label, value=chosen.multi_label, disabled=True,
                            key=f"train:multi_label:corrections:{chosen.multi_label}",
                            help="Set by the corrections chosen: the model they were made with "
                            f"is {'multi' if chosen.multi_label else 'single'}-label.")
                    else:
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


def _submit(config: TrainConfig) -> Job:
    """Run ``config`` in the background; at its end, the kept training data that no resumable
    state needs is removed (a stopped run's stays for its resume)."""
    output = config.output_path
    return resources.jobs().submit(
        training_work(config, train_and_judge, cleanup=lambda: tidy_training_data(output)),
        title=config.name, kind="train", meta={"output": str(output)},
    )


def _start() -> Job:
    if chosen is not None and upload is None:  # corrections of a single- or multi-label model
        values["multi_label"] = chosen.multi_label
    # Every option, the name and whether it is free are checked before anything is written.
    checked = build_config(values, train_path="corrections.jsonl", strategy=strategy)
    if (problem := name_problem(checked)) is not None:
        raise TrainConfigError(problem)
    output = checked.output_path
    tidy_training_data(output)  # earlier runs' data that nothing needs any more
    # Kept beside the run's state: a stopped run resumes from this very file.
    folder = data_folder(output)
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
            check_corrections_labels(path, label_set_title(chosen))
            values["label_descriptions"] = write_descriptions(store, chosen.label_set_name, folder)
        config = build_config(values, train_path=str(path), strategy=strategy)
    except BaseException:
        tidy_training_data(output)
        raise
    return _submit(config)


def _offer_resume(run: InterruptedRun, key: str) -> None:
    """A button continuing ``run`` here (as ``python -m longbert.train --resume`` would)."""
    if run.missing_data:
        st.caption(f"It cannot be resumed: its training data is gone ({', '.join(run.missing_data)}).")
        return
    if st.button(f"Resume '{run.name}'", key=key, type="primary",
                 disabled=bool(resources.jobs().running("train"))):
        try:
            resumed = _submit(resume_config(run))
        except LongBertError as error:
            st.error(str(error))
            return
        st.session_state["train:job"] = resumed.id
        st.rerun()


def _typed_run() -> InterruptedRun | None:
    """The interrupted run under the name typed, if any."""
    try:
        check_name(str(values.get("name") or ""), TrainConfigError)
        return interrupted_run(models_dir() / str(values["name"]))
    except (LongBertError, OSError, ValueError):
        return None


if start:
    try:
        job = _start()
    except LongBertError as error:
        st.error(str(error))
    else:
        st.session_state["train:job"] = job.id

job = resources.jobs().get(st.session_state.get("train:job")) or (running[0] if running else None)
typed = _typed_run()
if typed is not None and (job is None or job.meta.get("output") != str(typed.folder)):
    st.info(f"'{typed.name}' is an interrupted run, stopped after {typed.epoch} of "
            f"{plural(typed.epochs, 'epoch')}: resume it, or start a new run under another name "
            "(or with **overwrite** ticked under Advanced options, Run tab).")
    _offer_resume(typed, "train:resume-name")
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
    else:
        if snapshot.status == "cancelled":
            st.warning("Training was stopped.")
        else:
            st.error(f"Training failed: {snapshot.error}")
        stopped = interrupted_run(Path(job.meta["output"])) if job.meta.get("output") else None
        if stopped is not None:
            st.info(f"Its state after {stopped.epoch} of {plural(stopped.epochs, 'epoch')} and a "
                    f"copy of its training data are kept in `{stopped.folder}`. Resume it here, or "
                    f"from a terminal with `{stopped.command}`.")
            _offer_resume(stopped, "train:resume")
        elif snapshot.status == "cancelled":
            st.caption("It saved no state to resume from (a few-shot run keeps none, a fine-tuning "
                       "run saves it when stopped): start it again.")
    if snapshot.events:
        st.plotly_chart(charts.training_figure(snapshot.events), key="train:final")
