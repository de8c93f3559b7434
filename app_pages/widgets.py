"""Widgets the pages share: model and strategy pickers (remembered across pages), captions.

Choices and validation come from ``longbert.ui`` (tested without a browser).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from app_pages import resources
from longbert.errors import LongBertError
from longbert.exit_threshold import check_exit_threshold
from longbert.settings import database_url, models_dir
from longbert.store import redacted_url
from longbert.ui import charts, params
from longbert.ui import exit_control as exits
from longbert.ui.formatting import format_duration, md
from longbert.ui.help_text import strategy_help_text
from longbert.ui.jobs import Job, JobSnapshot
from longbert.ui.model_admin import default_model
from longbert.ui.models import (
    DEFAULT_ZERO_SHOT_LABELS,
    ModelChoice,
    model_choices,
    parse_labels,
)
from longbert.ui.params import (
    strategy_names,
    strategy_title,
)

OWN_STRATEGY = "__model__"
#: The label-set choice meaning "type new labels".
NEW_SET = "__new__"
#: The label set typed labels are kept under until a person names them.
DRAFT_SET = "Draft (last typed labels)"
#: The store setting naming the label set last chosen (shared by every browser session).
LABEL_SET_SETTING = "label_set"


def _remembered(name: str, default: Any) -> Any:
    return st.session_state.get(f"shared:{name}", default)


def _remember(name: str, value: Any) -> None:
    st.session_state[f"shared:{name}"] = value


def model_picker(prefix: str) -> tuple[ModelChoice, dict[str, str] | None]:
    """Pick a trained checkpoint or zero-shot (then type labels); the choice is shared by pages.

    Returns the choice and, for zero-shot, ``{label: description}`` (``None`` if invalid).
    """
    choices = model_choices()
    keys = [c.key for c in choices]
    # The default is what a person set on the Models page; a newly trained model never takes
    # over by itself (zero-shot until someone chooses).
    remembered = _remembered("model", default_model(resources.store(), keys))
    index = keys.index(remembered) if remembered in keys else 0
    key = st.selectbox(
        "Model", keys, index=index, key=f"{prefix}:model",
        format_func=lambda k: choices[keys.index(k)].title,
        help=f"Trained checkpoints are read from {models_dir()} (train one on the Train page).",
    )
    _remember("model", key)
    choice = choices[keys.index(key)]
    st.caption(md(choice.summary))
    if not choice.zero_shot:
        return choice, None
    st.badge("Zero-shot", icon=":material/auto_awesome:", color="orange")
    return choice, label_set_picker(prefix)


def label_set_picker(prefix: str) -> dict[str, str] | None:
    """Pick a saved label set by name (or type new labels, and save them under a name).

    The labels in use are kept in the database (the last chosen set, or a draft of typed
    labels), so a new browser session starts with them. The name in use is
    :func:`current_label_set`. Returns ``{label: description}``, or None (error shown).
    """
    store = resources.store()
    saved = {s.name: s for s in store.list_label_sets()}
    last = store.get_setting(LABEL_SET_SETTING)
    names = [NEW_SET, *saved]
    remembered = _remembered("label_set", last if last in saved else NEW_SET)
    text_key = f"{prefix}:labels"

    def chose() -> None:  # a set picked: its labels fill the text box
        picked = st.session_state[f"{prefix}:label_set"]
        if picked in saved:
            st.session_state[text_key] = saved[picked].text

    name = st.selectbox("Label set", names, index=names.index(remembered) if remembered in names
                        else 0, key=f"{prefix}:label_set", on_change=chose,
                        format_func=lambda n: "New labels (type them below)" if n == NEW_SET else n,
                        help="Saved label sets are shared by every page and browser session; "
                        "each prediction records the set it was made with.")
    if text_key not in st.session_state:
        draft = saved.get(name) or saved.get(DRAFT_SET)
        st.session_state[text_key] = draft.text if draft else _remembered("labels", DEFAULT_ZERO_SHOT_LABELS)
    text = st.text_area(
        "Labels (one per line, optionally `label: short description`)", key=text_key, height=140,
        help="Zero-shot compares the document's chunk embeddings with embeddings of these "
        "descriptions. Short, concrete descriptions work best.",
    )
    _remember("labels", text)
    try:
        labels = parse_labels(text or "")
    except ValueError as error:
        st.error(str(error))
        return None
    in_use = name if name in saved and saved[name].descriptions == labels else DRAFT_SET
    if in_use == DRAFT_SET:
        st.caption("These labels are not a saved label set yet; predictions record them as "
                   f"'{DRAFT_SET}'.")
        draft = saved.get(DRAFT_SET)
        if draft is None or draft.descriptions != labels or draft.labels != list(labels):
            store.save_label_set(DRAFT_SET, labels)  # kept for the next browser session
    with st.popover("Save as a label set…"):
        new_name = st.text_input("Name", key=f"{prefix}:label_set_name")
        if st.button("Save", key=f"{prefix}:label_set_save", disabled=not new_name.strip()):
            try:
                record = store.save_label_set(new_name, labels)
            except LongBertError as error:
                st.error(str(error))
            else:
                store.set_setting(LABEL_SET_SETTING, record.name)
                _remember("label_set", record.name)
                st.session_state.pop(f"{prefix}:label_set", None)
                st.rerun()
    if name != last and name in saved:
        store.set_setting(LABEL_SET_SETTING, name)
    _remember("label_set", name)
    _remember("label_set_in_use", in_use)
    return labels


def current_label_set() -> str | None:
    """The name of the label set the zero-shot labels in use belong to (None: none picked)."""
    return _remembered("label_set_in_use", None)


def _param_widget(spec: params.ParamSpec, key: str) -> Any:
    value = params.form_value(spec, spec.default)
    if spec.kind == "bool":
        return st.checkbox(spec.label, value=bool(value), key=key)
    if spec.kind == "choice":
        return st.selectbox(spec.label, spec.choices, index=spec.choices.index(value), key=key)
    if spec.kind in ("int", "optional_int"):
        help_text = "0 = no limit" if spec.kind == "optional_int" else None
        return st.number_input(spec.label, value=int(value), min_value=0, step=1, key=key,
                               help=help_text)
    if spec.kind == "float":
        return st.number_input(spec.label, value=float(value), key=key, format="%.3f")
    return st.text_input(spec.label, value=str(value), key=key)


def strategy_params_form(name: str, prefix: str) -> dict[str, Any] | None:
    """Parameter widgets for strategy ``name``; returns its config or None (error shown)."""
    values = {spec.name: _param_widget(spec, f"{prefix}:{name}:{spec.name}")
              for spec in params.param_specs(name)}
    try:
        return params.build_strategy(name, values).config()
    except LongBertError as error:
        st.error(str(error))
        return None


def strategy_picker(prefix: str, choice: ModelChoice, allow_own: bool = True) -> tuple[
    dict[str, Any] | None, bool
]:
    """Pick the long-input strategy and its parameters.

    Returns ``(config, ok)``: ``config`` is None for the model's own strategy; ``ok`` is False
    when a parameter is invalid (the error is shown).
    """
    own = (choice.strategy or {}).get("name") or ("chunk" if choice.zero_shot else None)
    own_title = f"Model's own ({strategy_title(own)})" if own else "Model's own"
    options = ([OWN_STRATEGY] if allow_own else []) + strategy_names()
    # Remembered per model: a strategy chosen for a trained model does not carry over to the
    # next zero-shot batch (and back).
    remembered = _remembered(f"strategy:{choice.key}", options[0])
    key = f"{prefix}:strategy"
    if st.session_state.get(f"{key}:model") != choice.key or st.session_state.get(key) not in options:
        st.session_state[key] = remembered if remembered in options else options[0]
        st.session_state[f"{key}:model"] = choice.key
    name = st.selectbox(
        "Strategy", options, key=key,
        format_func=lambda n: own_title if n == OWN_STRATEGY else strategy_title(n),
        help="How a document longer than BERT's 512 tokens is read. "
        + " ".join(f"**{params.strategy_summary(n)}.**" for n in params.strategy_names()),
    )
    _remember(f"strategy:{choice.key}", name)
    if name == OWN_STRATEGY:
        if choice.zero_shot:
            st.caption("Zero-shot reads every token in 256-token chunks (the encoder's length).")
        elif own:
            st.caption(f"As trained — {params.strategy_summary(own)}.")
        return None, True
    st.caption(params.strategy_summary(name) + ".")
    with st.expander("Strategy parameters"):
        st.caption(strategy_help_text(name))
        config = strategy_params_form(name, prefix)
    return config, config is not None


def exit_threshold_picker(prefix: str, choice: ModelChoice, strategy: dict[str, Any] | None = None,
                          *, several: bool = False) -> tuple[float | None, bool]:
    """The early-exit threshold control, shown only for a model with exits (read from its folder,
    not by loading it): defaults to the model's stored threshold, remembered per model across
    pages, with what calibration measured near the value chosen. ``strategy``: the one picked
    (None: the model's own); ``several``: the page runs several (Compare), so no one strategy's
    note applies. Returns ``(threshold, ok)``:
    None for a model without exits (or whose stored threshold is unreadable: its own applies);
    ``ok`` is False for a value :func:`check_exit_threshold` refuses (the error is shown)."""
    model = exits.exit_model(choice)
    if model is None:
        return None, True
    key, remember = f"{prefix}:exit_threshold", f"exit_threshold:{choice.key}"
    owner = [choice.key, model.stored]  # a model re-made with another threshold starts afresh
    if st.session_state.get(f"{key}:model") != owner or key not in st.session_state:
        was = _remembered(remember, None)
        st.session_state[key] = was[1] if isinstance(was, list) and was[0] == model.stored else model.stored
        st.session_state[f"{key}:model"] = owner

    def use_stored() -> None:
        st.session_state[key] = model.stored

    value = st.number_input("Early-exit threshold", key=key, step=0.05, format="%.3f",
                            help=exits.threshold_help(model))
    try:
        threshold = check_exit_threshold(value, "The early-exit threshold")
    except LongBertError as error:
        st.error(str(error))
        return None, False
    _remember(remember, [model.stored, value])  # a refused value is not carried to other pages
    threshold = model.stored if threshold is None else threshold
    mode = None if several else exits.strategy_mode(strategy, choice)
    st.caption(md(exits.threshold_caption(model, threshold, mode)))
    if model.stored is not None and threshold != model.stored:
        st.button(f"Use the stored threshold ({model.stored:g})", key=f"{key}:reset", on_click=use_stored)
    if (expected := exits.expected_text(model, threshold)) is not None:
        st.caption(md(expected))
        with st.expander("Calibrated thresholds near it"):
            st.dataframe(exits.curve_rows(model, threshold), hide_index=True, key=f"{key}:curve",
                         column_config=_CURVE_COLUMNS)
    elif model.stored is not None:
        st.caption("No calibration curve is stored with this model (made without calibration "
                   "data): try thresholds on labelled data with `python -m longbert.evaluate "
                   "--exit-threshold`.")
    return threshold, True


_CURVE_COLUMNS: dict[str, Any] = {
    "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
    "same label as full model": st.column_config.NumberColumn("same label as full model",
                                                              format="percent"),
}


def upload_limit_caption() -> None:
    limit = st.get_option("server.maxUploadSize")
    st.caption(
        f"Uploads are limited to {limit} MB per file (Streamlit's `server.maxUploadSize`; change "
        "it in `.streamlit/config.toml` or with `--server.maxUploadSize`). Empty, binary, "
        "encrypted or broken files are reported with the reason; the rest go on."
    )


def database_caption() -> None:
    st.caption(f"Database: `{redacted_url(database_url())}`")


def live_job(job: Job, prefix: str, *, working: str, stop_label: str, stop_help: str | None = None,
             eta: Callable[[JobSnapshot], float | None] | None = None) -> None:
    """A running background job, redrawn every 2 s: progress bar with elapsed time and ETA, its
    loss/metric chart, and a Stop button; the whole page reruns once the job has finished.
    ``eta``: the seconds left to show (default: the job's pace, ``snapshot.eta_seconds``)."""

    @st.fragment(run_every=2.0)
    def live() -> None:
        snap = job.snapshot()
        if snap.finished:
            st.rerun(scope="app")
        left = eta(snap) if eta is not None else snap.eta_seconds
        st.progress(snap.fraction, text=f"{snap.message or working} · elapsed "
                    f"{format_duration(snap.elapsed)}"
                    + (f" · about {format_duration(left)} left" if left is not None else ""))
        if snap.events:
            st.plotly_chart(charts.training_figure(snap.events), key=f"{prefix}:live")
        if st.button(stop_label, key=f"{prefix}:stop", help=stop_help):
            job.cancel()

    live()
