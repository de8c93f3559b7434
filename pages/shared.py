"""Streamlit pieces every page uses: cached resources, model/strategy pickers, result views.

Logic lives in ``longbert.ui`` (tested without a browser); this module only lays it out.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from longbert.document import Document
from longbert.errors import LongBertError
from longbert.results import Prediction
from longbert.settings import database_url, models_dir
from longbert.store import Store, StoreError, get_store
from longbert.ui import charts, highlight
from longbert.ui.coverage import coverage, units_read
from longbert.ui.formatting import md, token_budget_text
from longbert.ui.jobs import JobManager
from longbert.ui.models import (
    DEFAULT_ZERO_SHOT_LABELS,
    ZERO_SHOT_KEY,
    ModelChoice,
    model_choices,
    parse_labels,
)
from longbert.ui.params import (
    ParamSpec,
    build_strategy,
    form_value,
    param_specs,
    strategy_help,
    strategy_names,
    strategy_summary,
    strategy_title,
)

OWN_STRATEGY = "__model__"


# -- entry point ----------------------------------------------------------------------------------


def ensure_app_navigation() -> None:
    """Run the page through app.py when Streamlit started it on its own; call first on every page.

    Streamlit decides once per server process, when the first session opens, whether the app uses
    the legacy folder navigation: ``PagesManager.uses_pages_directory`` is set to "a ``pages/``
    folder sits next to the entry script" (streamlit/runtime/pages_manager.py) and only a call to
    ``st.navigation`` turns it off. While it is on, the script runner
    (streamlit/runtime/scriptrunner/script_runner.py, ``_mpa_v1``) runs a directly opened page
    such as ``/batch`` *instead of* app.py, so the wide layout, the sectioned sidebar and
    ``st.navigation`` itself are skipped, and the flag stays on until someone opens ``/``. Turning
    it off and rerunning gives app.py the same page (its hash is that of the URL path, which the
    rerun keeps), so the visitor lands where they asked, laid out by app.py.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


# -- cached resources ---------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return get_store(url)


def store() -> Store:
    """The database for this server (``LONGBERT_DB_URL``); stops the page with a clear error."""
    try:
        return _store(database_url())
    except StoreError as error:
        st.error(f"The database cannot be used: {error}")
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_resource(show_spinner=False)
def jobs() -> JobManager:
    """Background jobs of this server process (batches, training)."""
    return JobManager()


@st.cache_resource(max_entries=4, show_spinner="Loading the model (once per server)…")
def _cached_model(key: str, labels: tuple[tuple[str, str], ...]) -> Any:
    from longbert.ui.service import load_model

    return load_model(key, dict(labels) if labels else None)


def load_model(key: str, labels: dict[str, str] | None) -> Any:
    """A model from the per-process cache (loaded on first use)."""
    return _cached_model(key, tuple(sorted((labels or {}).items())))


# -- pickers --------------------------------------------------------------------------------------


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
    remembered = _remembered("model", keys[0])
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
    text = st.text_area(
        "Labels (one per line, optionally `label: short description`)",
        value=_remembered("labels", DEFAULT_ZERO_SHOT_LABELS), key=f"{prefix}:labels", height=140,
        help="Zero-shot compares the document's chunk embeddings with embeddings of these "
        "descriptions. Short, concrete descriptions work best.",
    )
    _remember("labels", text)
    try:
        return choice, parse_labels(text or "")
    except ValueError as error:
        st.error(str(error))
        return choice, None


def _param_widget(spec: ParamSpec, key: str) -> Any:
    value = form_value(spec, spec.default)
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
              for spec in param_specs(name)}
    try:
        return build_strategy(name, values).config()
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
    remembered = _remembered("strategy", options[0])
    name = st.selectbox(
        "Strategy", options, index=options.index(remembered) if remembered in options else 0,
        key=f"{prefix}:strategy",
        format_func=lambda n: own_title if n == OWN_STRATEGY else strategy_title(n),
        help="How a document longer than BERT's 512 tokens is read. "
        + " ".join(f"**{strategy_summary(n)}.**" for n in strategy_names()),
    )
    _remember("strategy", name)
    if name == OWN_STRATEGY:
        if choice.zero_shot:
            st.caption("Zero-shot reads every token in 256-token chunks (the encoder's length).")
        elif own:
            st.caption(f"As trained — {strategy_summary(own)}.")
        return None, True
    st.caption(strategy_summary(name) + ".")
    with st.expander("Strategy parameters"):
        st.caption(strategy_help(name))
        config = strategy_params_form(name, prefix)
    return config, config is not None


def upload_limit_caption() -> None:
    limit = st.get_option("server.maxUploadSize")
    st.caption(
        f"Uploads are limited to {limit} MB per file (Streamlit's `server.maxUploadSize`; change "
        "it in `.streamlit/config.toml` or with `--server.maxUploadSize`). Empty, binary, "
        "encrypted or broken files are reported with the reason; the rest go on."
    )


def database_caption() -> None:
    st.caption(f"Database: `{_redacted(database_url())}`")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL is shown by the store's own error instead
        return "(unparsable URL)"


def column_config(frame: Any, **configs: Any) -> dict[str, Any]:
    """A table's column configuration: ``configs``, plus right alignment for numeric columns
    that :func:`longbert.ui.tables.table_frame` turned into text to show their gaps blank."""
    aligned = {c: st.column_config.TextColumn(c, alignment="right")
               for c in frame.attrs.get("numeric_text", ())}
    return {**aligned, **configs}


# -- result views ---------------------------------------------------------------------------------


def render_prediction(p: Prediction, document: Document, prefix: str, *,
                      prediction_id: int | None = None) -> None:
    """The full result view: label, probabilities, budget, what the model saw, attention."""
    top, chart = st.columns([1, 2])
    with top:
        confidence = p.probabilities.get(p.label, 0.0)
        st.metric("Label", ", ".join(p.labels) or p.label, delta=f"{confidence:.1%} probability",
                  delta_color="off", delta_arrow="off")
        if p.zero_shot:
            st.badge("Zero-shot label", icon=":material/auto_awesome:", color="orange",
                     help="From similarity to your label descriptions, not a trained model.")
        st.caption(
            f"Model `{p.model_name}` · strategy `{p.strategy}` · model time {p.latency_ms:,.0f} ms"
            + (f" · {p.extra['precision']} on {p.extra.get('device', '?')}" if "precision" in p.extra else "")
            + (f" · saved as prediction #{prediction_id}" if prediction_id is not None else "")
        )
        st.caption(token_budget_text(p.used_tokens, p.total_tokens))
    with chart:
        st.plotly_chart(charts.probability_figure(p.probabilities, p.labels),
                        key=f"{prefix}:chart:probs")
    st.plotly_chart(charts.token_budget_figure(coverage(p, len(document.text))),
                    key=f"{prefix}:chart:budget")
    seen, attention, full = st.tabs(["What the model saw", "Attention heat map", "Full attention"])
    with seen:
        st.html(highlight.seen_legend(p.used_tokens < p.total_tokens))
        st.html(highlight.segments_html(document.text, p.segment_scores, p.spans))
        if p.segment_scores:
            st.plotly_chart(charts.segment_scores_figure(document.text, p.segment_scores),
                            key=f"{prefix}:chart:segments")
    with attention:
        render_attention(p, document, prefix)
    with full:
        render_full_attention(p, prefix)


def render_attention(p: Prediction, document: Document, prefix: str) -> None:
    if p.attention is None:
        st.info("No attention was kept for this prediction.")
        return
    unit = st.segmented_control("Unit", ["words", "sentences"], default="sentences",
                                key=f"{prefix}:attention-unit", required=True) or "sentences"
    a = p.attention
    if unit == "words":
        spans, scores, per_row, name = a.word_spans, a.word_scores, 25, "word"
    else:
        spans, scores, per_row, name = a.sentence_spans, a.sentence_scores, 8, "sentence"
    st.caption(
        "Where the [CLS] token looked in the last layer (mean over heads; windows combined by "
        "their pooling weight). Darker = more attention."
    )
    read = units_read(spans, p.spans)
    unread = p.used_tokens < p.total_tokens and not read.all()
    st.html(highlight.attention_legend(unread))
    st.html(highlight.attention_html(document.text, spans, scores, unit=name,
                                     seen=p.spans if unread else None))
    st.plotly_chart(
        charts.attention_grid_figure(document.text, spans, scores, unit=name, per_row=per_row,
                                     read=read if unread else None),
        key=f"{prefix}:chart:grid:{unit}",
    )


def render_full_attention(p: Prediction, prefix: str) -> None:
    full = p.full_attention
    if full is None:
        st.info(
            "No full attention map was kept. Tick **Keep the full attention map** before "
            "classifying (dense strategies: truncate, key sentences, chunk) to see every layer "
            "and head."
        )
        return
    layers, heads = int(full.weights.shape[0]), int(full.weights.shape[1])
    st.caption("Rows are the tokens attending (queries), columns the tokens attended to (keys); "
               "token 0 is [CLS]. The colour scale is capped at the 99.5th percentile.")
    left, right = st.columns(2)
    layer = left.slider("Layer", 0, layers - 1, layers - 1, key=f"{prefix}:attention-layer")
    head = right.selectbox("Head", ["mean", *range(heads)], key=f"{prefix}:attention-head")
    st.plotly_chart(
        charts.full_attention_figure(full, int(layer), None if head == "mean" else int(head)),
        key=f"{prefix}:chart:full",
    )


def labels_of(choice: ModelChoice, labels: dict[str, str] | None) -> list[str]:
    """The labels a person may pick when correcting this model's predictions."""
    if choice.key == ZERO_SHOT_KEY:
        return list(labels or {})
    return list(choice.labels)


if __name__ == "__main__":
    # Streamlit's legacy folder navigation (see ensure_app_navigation) lists every script in
    # pages/, this helper module too, and runs it as a page when `/shared` is opened directly.
    ensure_app_navigation()
