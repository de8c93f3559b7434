"""History: every past prediction, filterable; open one to see its attention and why it got its
label; resume batches."""

from __future__ import annotations

from datetime import date, datetime

import streamlit as st

from app_pages import resources, views, widgets
from longbert.errors import LongBertError
from longbert.store import HistoryFilter, RecordNotFoundError
from longbert.store.queries import NO_LABEL
from longbert.ui import charts
from longbert.ui.batch_jobs import (
    BatchSettings,
    batch_classify,
    command_line_hint,
    recorded_command,
    resume_work,
)
from longbert.ui.conflicts import answer_title, answers, conflict_key
from longbert.ui.conflicts import settle as settle_conflict
from longbert.ui.formatting import md, plural, progress_text
from longbert.ui.tables import (
    EXIT_THRESHOLD_HELP,
    HISTORY_COLUMNS,
    history_export,
    history_labels,
    history_row,
    newly_selected,
    table_frame,
)

PAGE_SIZE = 100
#: How many conflicts History offers to settle at once (the most recently corrected).
SETTLE_SHOWN = 20
#: The History label filter's choices → :attr:`HistoryFilter.label_of`.
LABEL_OF = {"label in force": "final", "predicted label": "predicted",
            "corrected label": "corrected"}

st.title("History")
store = resources.store()
widgets.database_caption()


def _resume(batch_id: int) -> None:
    batch = store.get_batch(batch_id)
    settings = BatchSettings.from_config(batch.config)
    try:
        model = resources.load_model(settings.model, settings.labels)
        run = batch_classify(model, settings)  # the batch's strategy and early-exit threshold
    except LongBertError as error:
        st.error(f"Cannot resume batch #{batch_id}: {md(error)}")
        return
    job = resources.jobs().submit(
        resume_work(store, batch_id, run),
        title=f"resume #{batch_id} {batch.name}", kind="batch", meta={"batch_id": batch_id},
    )
    st.session_state["batch:job"] = job.id
    st.switch_page("app_pages/batch.py")


unfinished = store.unfinished_batches()
if unfinished:
    st.subheader("Unfinished batches")
    for batch in unfinished:
        live = resources.jobs().find("batch", batch_id=batch.id)
        running = live is not None and not live.snapshot().finished
        # A command line's batch grows as its command runs: its total is only the rows so far,
        # so it shows counts, not a fraction, and is resumed by its command, not from here.
        command_line = command_line_hint(batch.id, batch.config, with_command=False)
        cols = st.columns([3, 1])
        if command_line is None:
            counts = progress_text(batch.done + batch.errors, batch.total, None, batch.errors)
        else:
            counts = f"{plural(batch.done + batch.errors, 'document')} so far" + (
                f" · {plural(batch.errors, 'error')}" if batch.errors else "")
        cols[0].markdown(f"**#{batch.id}** {md(batch.name)} — {counts} · {batch.status}")
        if command_line is None:
            cols[0].progress(batch.fraction)
        if running:
            if cols[1].button("Watch", key=f"history:watch:{batch.id}"):
                st.session_state["batch:job"] = live.id if live else None
                st.switch_page("app_pages/batch.py")
        elif batch.worker:  # another server process (or host) is labelling it
            cols[1].caption(f"Being labelled by {md(batch.worker)}"
                            + (" (python -m longbert.predict)." if command_line else "."))
        elif command_line is not None:
            cols[0].caption(md(command_line))
            if (command := recorded_command(batch.config)) is not None:
                cols[0].code(command[0], language="bash")
                if command[1]:
                    cols[0].caption(f"Run it{md(command[1])}.")
        elif cols[1].button("Resume", key=f"history:resume:{batch.id}", type="primary"):
            _resume(batch.id)

options = store.filter_options()
batches = store.list_batches(limit=200)
with st.expander("Filters"):
    c1, c2, c3 = st.columns(3)
    models = c1.multiselect("Model", options["model"], key="history:model")
    labels = c2.multiselect("Label", options["label"], key="history:label")
    strategies = c3.multiselect("Strategy", options["strategy"], key="history:strategy")
    c4, c5, c6 = st.columns(3)
    batch_id = c4.selectbox(
        "Batch", [None, *[b.id for b in batches]], key="history:batch",
        format_func=lambda i: "any" if i is None else next(
            f"#{b.id} {b.name}" for b in batches if b.id == i),
    )
    dates = c5.date_input("Dates", value=(), key="history:dates")
    text = c6.text_input("Text contains", key="history:text",
                         help="Case-insensitive search in document text and name.")
    label_sets = c4.multiselect("Label set", options["label_set"], key="history:label_set",
                                help="The saved label set predictions were made with "
                                "(zero-shot labellings of one encoder share a model name).")
    c7, c8, c9 = st.columns(3)
    corrected_only = c7.checkbox("Only corrected predictions", key="history:corrected")
    conflicts_only = c8.checkbox(
        "Only conflicting corrections", key="history:conflicts",
        help="Texts that people labelled differently on different predictions (same labels). "
        "A training set never picks one: remove or change one of them.")
    label_of = c9.radio("The label filter looks at", list(LABEL_OF), key="history:label_of",
                        horizontal=True, help="The label in force is a person's correction "
                        "where there is one, else the model's.")

conflicts = store.correction_conflicts()
# Set just before st.rerun() by a settle (the conflict is gone from the page after it).
if (settled := st.session_state.pop("history:settled", None)) is not None:
    st.success(md(settled))
if conflicts:
    st.warning(f"{plural(len(conflicts), 'text')} with conflicting corrections (a conflict: "
               "people set different labels on predictions of the same text with the same "
               "labels, whichever models made them; training leaves them out or refuses until "
               "settled): " + "; ".join(md(c.title) for c in conflicts[:5])
               + (" …" if len(conflicts) > 5 else "") + ". Settle them under 'Settle "
               "conflicting corrections', or tick 'Only conflicting corrections' under Filters "
               "to see their predictions.")
    with st.expander(f"Settle conflicting corrections ({len(conflicts):,})"):
        st.caption("Pick the answer to keep for each text: it is saved as a new correction on "
                   "the text's predictions that say otherwise (their earlier labels stay in "
                   "their history). The latest answer is preselected; nothing changes until "
                   "you click Settle.")
        for conflict in conflicts[:SETTLE_SHOWN]:
            key = conflict_key(conflict)
            # What this page showed (set after the button): a click judged against it never
            # overrules a label set since the person looked.
            seen_key = f"history:settle-seen:{key}"
            seen = st.session_state.get(seen_key, conflict)
            left, right = st.columns([5, 1], vertical_alignment="bottom")
            answer = left.radio(
                f"{md(conflict.document_name)} ({md('/'.join(conflict.labels))})",
                answers(conflict), key=f"history:settle:{key}",
                format_func=lambda a, c=conflict: md(answer_title(c, a)))
            if right.button("Settle", key=f"history:settle-button:{key}"):
                try:
                    st.session_state["history:settled"] = settle_conflict(store, seen, answer)
                except LongBertError as error:  # e.g. a label set since: the page shows it now
                    st.error(md(error))
                else:
                    st.rerun()
            st.session_state[seen_key] = conflict
        if len(conflicts) > SETTLE_SHOWN:
            st.caption(f"and {plural(len(conflicts) - SETTLE_SHOWN, 'more')}: settle these first.")
since = until = None
if isinstance(dates, tuple | list) and dates:
    since, until = dates[0], dates[-1]
elif isinstance(dates, date):
    since = until = dates
filters = HistoryFilter(
    model=models or None, label=labels or None, strategy=strategies or None, batch_id=batch_id,
    since=since, until=until, text=text.strip() or None, corrected=True if corrected_only else None,
    label_of=LABEL_OF[label_of], label_set=label_sets or None,
    prediction_ids=[p for c in conflicts for p in c.prediction_ids] if conflicts_only else None,
)

total = store.count_predictions(filters)
if total == 0:
    st.info("No predictions match. Classify a document or label a batch first."
            if not options["label"] else "No predictions match these filters.")
    st.stop()

listing, over_time = st.tabs(["Predictions", "Labels over time"])
with over_time:
    use_corrections = st.toggle("Count corrected labels", key="history:use_corrections",
                                help="A corrected prediction counts under its corrected label.")
    st.caption("Counts the predictions listed under Predictions, each under its label column "
               "(or its corrected column, where it has one, when counting corrected labels); a "
               f"multi-label prediction once under each of its labels, {NO_LABEL} when none "
               "applies. So under a label filter the other labels of the matching predictions "
               "are counted too.")
    distribution = store.label_distribution(filters, use_corrections=use_corrections)
    st.plotly_chart(
        charts.label_distribution_figure(
            [{"period": d.day.isoformat(), "label": d.label, "count": d.count}
             for d in distribution]
        ),
        key="history:distribution",
    )

pages = max(1, -(-total // PAGE_SIZE))
with listing:
    page_number = st.number_input(f"Page (of {pages}; {plural(total, 'prediction')})", min_value=1,
                                  max_value=pages, value=1, key="history:page", width=260)
page = store.history(filters, limit=PAGE_SIZE, offset=(int(page_number) - 1) * PAGE_SIZE)


explained = store.explained_methods([r.id for r in page.rows])
frame = table_frame([history_row(r, explained.get(r.id, ())) for r in page.rows], HISTORY_COLUMNS)
ids = [r.id for r in page.rows]
names = {r.id: f"#{r.id} {r.document_name} → {history_labels(r)[0] or NO_LABEL}"
         for r in page.rows}
with listing:
    left, right, _ = st.columns([1, 1, 3])
    stamp = f"{datetime.now():%Y%m%d-%H%M}"
    left.download_button(
        f"Download CSV ({total:,})", lambda: history_export(store, filters, "csv"),
        file_name=f"longbert-history-{stamp}.csv", mime="text/csv", key="history:csv",
        on_click="ignore", help="Every prediction matching the filters (all pages), with its "
        "latest correction and the final label.")
    right.download_button(
        f"Download JSON Lines ({total:,})", lambda: history_export(store, filters, "jsonl"),
        file_name=f"longbert-history-{stamp}.jsonl", mime="application/jsonl",
        key="history:jsonl", on_click="ignore",
        help="The same export as JSON Lines (one prediction per line).")
    event = st.dataframe(frame, hide_index=True, on_select="rerun",
                         selection_mode="single-row", key="history:table",
                         column_config=views.column_config(
                             frame, confidence=st.column_config.NumberColumn(format="percent"),
                             exit_threshold=st.column_config.Column(
                                 help=EXIT_THRESHOLD_HELP, alignment="right")))
    selected_rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    ticked = newly_selected(selected_rows, st.session_state.get("history:ticked"))
    st.session_state["history:ticked"] = selected_rows
    if ticked is not None and ticked < len(ids):
        # A row just ticked opens it; a row left ticked does not override a later pick below.
        st.session_state["history:open"] = ids[ticked]
    opened = st.selectbox("Open a prediction", [None, *ids], key="history:open",
                          format_func=lambda i: "— pick one, or tick a row —" if i is None
                          else names[i])
if opened is None:
    st.stop()

try:
    stored = store.get_prediction(int(opened), with_full_attention=True)
except RecordNotFoundError as error:
    st.error(md(error))
    st.stop()

st.divider()
st.subheader(f"Prediction #{stored.id}: {md(stored.document.name)}")
st.caption(f"Saved {stored.created_at:%Y-%m-%d %H:%M:%S} UTC"
           + (f" · batch #{stored.batch_id}" if stored.batch_id else ""))
# The form's widgets are keyed by the correction in force: after a save or a removal they start
# again from the label and note now in force (a kept widget would show, and re-save, the old).
in_force = stored.latest_correction
in_force_id = None if in_force is None else in_force.id
suffix = "" if in_force is None else f":{in_force.id}"
# What this page showed as in force (set after the form): a save or a removal clicked on it is
# refused when someone changed the label since, rather than overruling them unseen.
shown_key = f"history:shown:{stored.id}"
try:  # a multi-label prediction is corrected as a set: one label would replace all it chose
    multi_label = store.get_model(stored.prediction.model_name).multi_label
except LookupError:
    multi_label = False
with st.form(f"history:correct:{stored.id}", border=False):
    choices = list(stored.prediction.probabilities)
    left, middle, right = st.columns([2, 3, 1], vertical_alignment="bottom")
    new_label: str | list[str]
    if multi_label:
        new_label = left.multiselect(
            "Labels that apply", choices, default=[c for c in stored.final_labels if c in choices],
            key=f"history:correct:{stored.id}:label{suffix}",
            help="Every label that applies to this text; none selected: no label applies.")
    else:
        current = stored.final_labels[0] if stored.final_labels else stored.prediction.label
        new_label = left.selectbox("Correct label", choices,
                                   key=f"history:correct:{stored.id}:label{suffix}",
                                   index=choices.index(current) if current in choices else 0)
    note = middle.text_input("Note (optional)", value=(in_force.note or "") if in_force else "",
                             key=f"history:correct:{stored.id}:note{suffix}")
    if right.form_submit_button("Save correction"):
        try:  # saved only while the correction in force is the one this form was drawn with
            store.add_correction(stored.id, new_label, note=note or None,
                                 in_force=st.session_state.get(shown_key, in_force_id))
        except LongBertError as error:
            st.error(md(error))
        else:
            # The next run reads the prediction with its new correction once; it shows this.
            shown_label = new_label if isinstance(new_label, str) else ", ".join(new_label)
            st.session_state["history:done"] = f"Saved: #{stored.id} is '{md(shown_label or 'no label')}'."
            st.rerun()
shown = st.session_state.get(shown_key, in_force_id)
st.session_state[shown_key] = in_force_id
# Set just before st.rerun() by a save or a removal (a toast made then may never reach the page).
if (done := st.session_state.pop("history:done", None)) is not None:
    st.success(done)
if stored.corrections:
    latest = stored.corrections[-1]
    left, right = st.columns([5, 2], vertical_alignment="center")
    left.caption("Corrections: " + "; ".join(
        f"{md(c.label)} ({c.created_at:%Y-%m-%d %H:%M})" + (f" — {md(c.note)}" if c.note else "")
        for c in stored.corrections))
    then = (f"'{md(stored.corrections[-2].label)}' (the correction before)"
            if len(stored.corrections) > 1 else f"the predicted '{md(stored.prediction.label)}'")
    if right.button("Remove the latest correction", key=f"history:uncorrect:{stored.id}",
                    help=f"Takes back '{md(latest.label)}'; the label is then {then}."):
        try:
            store.remove_correction(stored.id, shown if shown is not None else latest.id,
                                    only_if_in_force=True)
        except LongBertError as error:
            st.error(md(error))
        else:
            st.session_state["history:done"] = f"Removed '{md(latest.label)}': #{stored.id} is {then} again."
            for kind in ("label", "note"):  # the form starts again from the label in force
                st.session_state.pop(f"history:correct:{stored.id}:{kind}{suffix}", None)
            st.rerun()
views.render_prediction(stored.prediction, stored.document, f"history:{stored.id}",
                         prediction_id=stored.id)
views.render_why(stored.id, stored.prediction, stored.document, f"history:{stored.id}")
