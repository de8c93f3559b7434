"""Review: one document at a time from a batch (or a model and label set), the documents that
teach the model most first; each answer is saved at once as a correction. Keyboard first:
number keys pick a label, Enter accepts the model's label, arrows move, U undoes. Retrain from
the answers in the background, then the rest of the queue is re-scored with the new model."""

from __future__ import annotations

import streamlit as st

from app_pages import resources, views
from longbert.errors import LongBertError
from longbert.store import HistoryFilter, RecordNotFoundError
from longbert.ui.formatting import format_duration, md, plural
from longbert.ui.review import (
    REVIEW_SAMPLERS,
    SAMPLER_TITLES,
    ReviewQueue,
    answer_text,
)
from longbert.ui.review_items import training_answers
from longbert.ui.review_jobs import (
    BASES,
    MIN_LABELS,
    QueueScores,
    new_work_folder,
    queue_model,
    retrain_config,
    retrain_work,
    score_work,
)
from longbert.ui.review_keys import (
    ACCEPT_KEY,
    NEXT_KEY,
    PREVIOUS_KEY,
    SAVE_KEY,
    UNDO_KEY,
    bindings,
    key_hint,
    label_key,
    listener_html,
)
from longbert.ui.review_source import build_queue

st.title("Review queue")
st.caption(
    "The documents the model is least sure of come first. Number keys pick a label (toggle "
    "one on a multi-label queue, then **S** saves them), **Enter** accepts the model's "
    "label(s), **← →** move, **U** undoes. Every answer is saved at once as a correction "
    "(History shows it)."
)
store = resources.store()
jobs = resources.jobs()

SOURCES = ["A batch", "A model and label set"]
kind = st.radio("Review", SOURCES, key="review:source", horizontal=True)
batch_config = None
if kind == SOURCES[0]:
    batches = [b for b in store.list_batches(limit=200) if b.done]
    if not batches:
        st.info("No labelled batch yet: label one on the Batch label page first.")
        st.stop()
    names = {b.id: f"#{b.id} {b.name} ({plural(b.done, 'document')})" for b in batches}
    batch_id = st.selectbox("Batch", list(names), key="review:batch", format_func=names.__getitem__)
    batch_config = next(b.config for b in batches if b.id == batch_id)
    filters = HistoryFilter(batch_id=batch_id)
else:
    options = store.filter_options()
    if not options["model"]:
        st.info("No predictions yet: classify documents or label a batch first.")
        st.stop()
    left, right = st.columns(2)
    model = left.selectbox("Model", options["model"], key="review:model")
    label_set = right.selectbox(
        "Label set",
        [None, *options["label_set"]],
        key="review:label_set",
        format_func=lambda n: "any" if n is None else n,
    )
    filters = HistoryFilter(model=model, label_set=label_set)

sampler = st.selectbox(
    "Order",
    REVIEW_SAMPLERS,
    key="review:sampler",
    format_func=SAMPLER_TITLES.get,
    help="Margin (breaking ties) is the strongest single measure with transformers "
    "(Schröder et al. 2022). The diverse orders spread questions over clusters of "
    "similar documents, so near-duplicates are not asked about one after another.",
)

queue: ReviewQueue | None = st.session_state.get("review:queue")
if (
    queue is None
    or queue.filters != filters
    or st.button("Rebuild the queue", key="review:rebuild", help="Read the predictions again.")
):
    try:
        queue = build_queue(store, filters, sampler=sampler)
    except LongBertError as error:
        st.error(str(error))
        st.stop()
    st.session_state["review:queue"] = queue


def _apply_finished_jobs() -> None:
    """Hand the scores of this queue's finished jobs to it, once each."""
    applied: set[str] = st.session_state.setdefault("review:applied", set())
    for job in jobs.jobs("review"):
        snap = job.snapshot()
        if job.meta.get("queue") != queue.key or job.id in applied or not snap.finished:
            continue
        applied.add(job.id)
        result = snap.result.get("scores") if isinstance(snap.result, dict) else snap.result
        if snap.status == "done" and isinstance(result, QueueScores):
            result.apply(queue, store)
            for note in result.notes:
                st.warning(note)


_apply_finished_jobs()
running = [j for j in jobs.running("review") if j.meta.get("queue") == queue.key]

if sampler != queue.sampler:
    if queue.needs_embeddings(sampler):
        st.info(
            f"**{SAMPLER_TITLES[sampler]}** needs the documents' embeddings: one pass of the "
            f"model over {plural(len(queue.items), 'document')}. Until then the queue is in "
            f"{SAMPLER_TITLES[queue.sampler].lower()} order."
        )
        if st.button("Compute the embeddings", key="review:embed", disabled=bool(running)):
            try:
                key, labels = queue_model(store, queue, batch_config)
                classifier = resources.load_model(key, labels)
            except LongBertError as error:
                st.error(str(error))
            else:
                jobs.submit(
                    score_work(lambda: classifier, store, list(queue.items)),
                    title=f"embed {queue.key}",
                    kind="review",
                    meta={"queue": queue.key},
                )
                st.rerun()
    else:
        queue.rerank(sampler)

reviewed, changed, total = queue.progress()
st.progress(reviewed / total if total else 0.0, text=queue.progress_text())
if queue.rescored is not None:
    st.caption(queue.rescored.text() + ": the remaining documents carry its probabilities.")
elif queue.earlier_rescore is not None:
    st.caption(
        queue.earlier_rescore.text() + " (in an earlier session; the queue now shows the "
        f"stored predictions of {md(queue.model)}: retrain to re-score it again)."
    )
else:
    st.caption(f"Not re-scored yet: the order comes from the stored predictions of {md(queue.model)}.")

# Set just before st.rerun() by an answer (a message made then would never reach the page).
if (said := st.session_state.pop("review:said", None)) is not None:
    st.success(said)
if (warned := st.session_state.pop("review:warned", None)) is not None:
    st.warning(warned)

if queue.order and not queue.pending:
    st.success(
        "Every document of this queue is reviewed. Retrain below to use the answers, or go back "
        "with ← to change one."
    )
item = queue.current
if item is None:
    st.info("The queue is empty.")
    st.stop()


def _answer(label: str | list[str] | None) -> None:
    """Save ``label`` (a multi-label queue: the list that applies; None: the model's), say what
    was saved, and show the next document."""
    try:
        answer = queue.accept(store) if label is None else queue.answer(store, label)
    except LongBertError as error:
        st.error(str(error))
        return
    st.session_state["review:said"] = f"Saved #{answer.prediction_id} as '{md(answer.label)}'" + (
        " (changed from the prediction)." if answer.changed else " (as predicted)."
    )
    if answer.copies:
        st.session_state["review:said"] += (
            f" Also saved on {', '.join(f'#{p}' for p, _ in answer.copies)}: the same text."
        )
    warnings = [md(note) for note in answer.notes]
    if answer.conflict:
        warnings.append(
            f"This text now has conflicting labels: {md(answer.conflict)}. Training leaves it out "
            "until it is settled: in History, change or take back one of these labels (the "
            "predictions named may be another model's, with the same labels)."
        )
    if warnings:
        st.session_state["review:warned"] = " ".join(warnings)
    st.rerun()


keys = {widget: key for key, widget in bindings(queue.labels, queue.multi_label).items()}
in_force = queue.reviewed.get(item.prediction_id)
model_answer = queue.model_answer(item)
position = f"{queue.position + 1} of {len(queue.order)}"
if queue.multi_label:  # every chosen label with its probability (they need not sum to 1)
    says = ", ".join(f"**{md(label)}** ({item.probabilities.get(label, 0.0):.0%})" for label in model_answer)
    says = f"the model says {says}" if says else "the model says **no label applies**"
else:
    says = f"the model says **{md(item.model_label)}** ({item.probabilities.get(item.model_label, 0.0):.0%})"
st.subheader(f"{md(item.document_name)}")
st.caption(
    f"Prediction #{item.prediction_id} · {position} · {says}"
    + (f" · reviewed: **{md(answer_text(in_force))}**" if in_force is not None else "")
    + (
        f" (a person's label of the same text, on prediction #{source})"
        if (source := queue.same_text.get(item.prediction_id)) is not None
        else ""
    )
)
# Multi-label: the labels toggled on for this document (from what is in force, else the model's
# choice) until they are saved; the label buttons toggle them.
draft_key = f"review:draft:{item.prediction_id}"
if queue.multi_label and draft_key not in st.session_state:
    st.session_state[draft_key] = list(in_force if in_force is not None else model_answer)
draft: list[str] = st.session_state.get(draft_key, [])
columns = st.columns(min(len(queue.labels), 6))
for index, label in enumerate(queue.labels):
    key = label_key(index)
    hint = f"{key_hint(keys[key])} · " if key in keys else ""
    chosen = label in draft if queue.multi_label else label == (in_force or item.model_label)
    if columns[index % len(columns)].button(
        f"{'✓ ' if queue.multi_label and chosen else ''}{hint}{label}",
        key=key,
        width="stretch",
        type="primary" if chosen else "secondary",
    ):
        if not queue.multi_label:
            _answer(label)
        else:
            st.session_state[draft_key] = [
                name for name in queue.labels if (name in draft) != (name == label)
            ]
            st.rerun()
if queue.multi_label and st.button(
    f"Save {answer_text(tuple(draft))!r} ({key_hint('s')})",
    key=SAVE_KEY,
    help="Saves the labels toggled on above (none: no label applies).",
):
    st.session_state.pop(draft_key, None)
    _answer(draft)
left, middle, right, undo = st.columns(4)
if left.button(
    f"{key_hint('arrowleft')} Previous", key=PREVIOUS_KEY, width="stretch", disabled=queue.position == 0
):
    queue.move(-1)
    st.rerun()
if middle.button(
    f"Accept '{answer_text(model_answer)}' ({key_hint('enter')})",
    key=ACCEPT_KEY,
    width="stretch",
    type="primary",
):
    st.session_state.pop(draft_key, None)
    _answer(None)
if right.button(
    f"Next {key_hint('arrowright')}",
    key=NEXT_KEY,
    width="stretch",
    disabled=queue.position >= len(queue.order) - 1,
):
    queue.move(+1)
    st.rerun()
if undo.button(f"Undo ({key_hint('u')})", key=UNDO_KEY, width="stretch", disabled=not queue.answers):
    try:
        last = queue.undo(store)
    except LongBertError as error:  # taken back elsewhere already: the page shows what is in force
        st.session_state["review:warned"] = md(str(error))
    else:
        if last is not None:
            st.session_state["review:said"] = f"Took back '{md(last.label)}' on #{last.prediction_id}."
    st.rerun()
# Runs in the app's own document (no iframe): the listener is replaced on every rerun.
st.html(listener_html(bindings(queue.labels, queue.multi_label)), unsafe_allow_javascript=True)

with st.expander("Retrain from the answers", expanded=bool(running)):
    base = st.radio(
        "Start from",
        BASES,
        key="review:base",
        horizontal=True,
        format_func={"model": "the current model", "encoder": "the encoder"}.get,
        help="The current model goes on from what it has learnt; the encoder starts "
        "afresh. A zero-shot start has only the encoder.",
    )
    steps = st.number_input(
        "Few-shot steps at most (0 = every pair)",
        min_value=0,
        value=0,
        step=10,
        key="review:steps",
        help="With few labels per class the retrain is few-shot. The corrected zero-shot "
        "model (single-label, from a sentence encoder) takes seconds and has no steps to "
        "bound; SetFit (multi-label queues, or going on from a fine-tuned model) stops after "
        "this many contrastive steps.",
    )
    # What the retrain's training set takes from this queue (texts once, conflicts left out),
    # not the reviewed count: a conflicting text is reviewed but trains nothing.
    enough = len(training_answers(queue)) >= MIN_LABELS
    if enough and (caution := queue.retrain_warning()) is not None:
        st.warning(caution)
    if st.button(
        "Retrain, then re-score the queue",
        key="review:retrain",
        type="primary",
        disabled=bool(running) or not enough,
        help=None
        if enough
        else f"Answer at least {MIN_LABELS} documents first (texts whose labels conflict do not count).",
    ):
        folder = new_work_folder()
        try:
            config, notes = retrain_config(
                store,
                queue,
                folder,
                base=base,
                few_shot_max_steps=int(steps),
                strategy=(batch_config or {}).get("strategy"),
            )
        except LongBertError as error:
            st.error(str(error))
        else:
            jobs.submit(
                retrain_work(store, queue, config, folder, queue.pending, notes),
                title=f"retrain {queue.key}",
                kind="review",
                meta={"queue": queue.key, "retrain": True},
            )
            st.rerun()
    last_jobs = [j for j in jobs.jobs("review") if j.meta.get("queue") == queue.key]
    if last_jobs:

        @st.fragment(run_every=2.0)
        def job_status() -> None:
            snap = last_jobs[0].snapshot()
            if snap.finished and last_jobs[0].id not in st.session_state.get("review:applied", set()):
                st.rerun(scope="app")
            what = "Retrain" if last_jobs[0].meta.get("retrain") else "Embeddings"
            if not snap.finished:
                st.progress(
                    snap.fraction,
                    text=f"{what}: {snap.message or 'running…'} · {format_duration(snap.elapsed)}",
                )
                if st.button("Stop", key="review:stop"):
                    last_jobs[0].cancel()
            elif snap.status == "done":
                st.caption(f"{what} done in {format_duration(snap.elapsed)}.")
            else:
                st.error(f"{what} {snap.status}: {snap.error or 'stopped'}")

        job_status()

try:
    stored = store.get_prediction(item.prediction_id)
except RecordNotFoundError as error:
    st.error(str(error))
    st.stop()
views.render_prediction(
    stored.prediction, stored.document, f"review:{item.prediction_id}", prediction_id=item.prediction_id
)
