"""Adapting the encoder to the analyst's documents from the app (further MLM pre-training).

The Adapt encoder page is a thin layout over these helpers: which corpora the store offers
(every classified document, or one upload batch's), a validated :class:`PretrainConfig` from the
form, the background job that runs :func:`longbert.pretraining.pretrain` with progress and a stop
button, and the summary shown when it ends. The adapted encoder is an encoder checkpoint under the
models folder, so the Train page offers it as a starting point.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from longbert.pretraining import PretrainConfig, PretrainError, PretrainResult, pretrain
from longbert.pretraining.corpus import MIN_DOCUMENTS, store_text_hashes
from longbert.pretraining.output import check_output_folder
from longbert.store import Store
from longbert.ui.adaptation_budget import BudgetPlan, fitted_config, needs_budget_plan, plan_to_budget
from longbert.ui.adaptation_runs import budget_seconds_left, encoder_training_steps
from longbert.ui.jobs import JobCancelled, JobContext, JobSnapshot

#: The corpus choice meaning "every document in the database".
ALL_DOCUMENTS = None


@dataclass(frozen=True)
class StoreCorpus:
    """Documents in the store an adaptation run can read: all of them, or one batch's."""

    batch_id: int | None
    title: str


def store_corpora(store: Store, limit: int = 200) -> list[StoreCorpus]:
    """Every classified document, then each upload batch (newest first) with its size."""
    choices = [StoreCorpus(ALL_DOCUMENTS, "Every document in the database")]
    for batch in store.list_batches(limit=limit):
        choices.append(StoreCorpus(batch.id, f"Batch {batch.id}: {batch.name} ({batch.done:,} documents)"))
    return choices


#: Pre-training modes offered on the page, with what each is for.
MODES = {
    "dense": "Dense (512-token sequences): adapts the encoder to the vocabulary and style of the "
    "documents, for every strategy.",
    "sparse": "Long (sparse attention over up to 4,096 tokens): also trains the positions beyond "
    "512 and the global attention, for the sparse strategy. About 3x slower per token.",
}


def build_config(
    values: Mapping[str, Any],
    *,
    corpus_paths: list[str],
    from_store: bool,
    batch_id: int | None,
    store: Store | None = None,
) -> PretrainConfig:
    """A validated PretrainConfig from the form; PretrainError names a bad value, an encoder
    name already taken (unless ``overwrite``) or a database with too few documents -- checked
    here so the page says so at once rather than when the background run starts.

    ``values``: ``name``, ``encoder``, ``strategy`` (``dense``/``sparse``), ``epochs``,
    ``max_minutes``, optional ``max_tokens``, ``masking``, ``learning_rate``, ``overwrite``...
    """
    data = {k: v for k, v in values.items() if v is not None}
    config = PretrainConfig(
        corpus=list(corpus_paths),
        from_store=from_store,
        batch=batch_id if from_store else None,
        skip_bad_files=True,  # an upload with a few bad files still adapts; they are listed
        quiet=True,  # no terminal bars from a background thread: the page shows progress
        **data,
    )
    config.validate()
    check_output_folder(
        config.output_path,
        overwrite=config.overwrite,
        how_to_replace="Choose another name, or tick 'Replace an existing encoder of that name'.",
        another_name="choose another name",
    )
    if from_store and not corpus_paths and store is not None:
        texts, rows = distinct_texts(store, batch_id, enough=MIN_DOCUMENTS)
        if texts < MIN_DOCUMENTS:
            where = "this batch" if batch_id is not None else "the database"
            repeated = (
                f" but only {texts} distinct text (the same text classified again counts once)"
                if rows > texts
                else ""
            )
            raise PretrainError(
                f"{where.capitalize()} holds {rows} classified document(s){repeated}; adapting needs "
                f"at least {MIN_DOCUMENTS} distinct texts (one is held out to measure the encoder). "
                "Classify other documents first, or upload unlabelled text."
            )
    return config


def distinct_texts(store: Store, batch_id: int | None, enough: int) -> tuple[int, int]:
    """``(distinct texts, classified rows)`` in the store (one batch's with ``batch_id``): texts
    counted by their SHA-256, as the pre-training corpus reads them; counting stops at ``enough``."""
    hashes, rows = store_text_hashes(store, batch_id, enough=enough)
    return len(hashes), rows


def progress_message(event: Mapping[str, Any]) -> str | None:
    """A one-line status for the page from a pre-training event (None: nothing to say)."""
    kind = event.get("event")
    if kind == "start":
        return (
            f"Pre-training on {event.get('documents', 0):,} documents ({event.get('tokens', 0):,} tokens, "
            f"{event.get('sequences', 0):,} sequences) on {event.get('device', '?')}; the first "
            f"{event.get('head_warmup_steps', 0):,} steps train the MLM head alone."
        )
    if kind in ("step", "progress") and event.get("loss") is not None:
        speed = event.get("tokens_per_second")
        phase = "MLM head warm-up" if event.get("phase") == "head" else "whole model"
        return f"{phase}: loss {event['loss']:.3f}" + (f", {speed:,.0f} tokens/s" if speed else "")
    if kind == "eval":
        moment = str(event.get("moment", "")).replace("_", " ")
        return f"Held-out text {moment}: perplexity {event.get('perplexity', 0):,.1f}"
    return None


def adaptation_work(
    config: PretrainConfig,
    cleanup: Callable[[], None] | None = None,
    pretrain_fn: Callable[..., PretrainResult] = pretrain,
    plan_fn: Callable[..., BudgetPlan] = plan_to_budget,
) -> Callable[[JobContext], PretrainResult]:
    """A job function running ``pretrain_fn(config, progress=..., should_stop=...)``: steps drive
    the progress bar, losses feed the chart (``ctx.log(step=, loss=)``), Stop saves the state so
    the run can be resumed; ``cleanup`` (e.g. removing an uploaded corpus) runs at the end.

    A new time-limited run is first sized to its minutes (``plan_fn``, see
    :mod:`longbert.ui.adaptation_budget`); the plan's sentence is the job's ``plan`` meta. Once
    training steps come, ``train_deadline`` (meta, epoch seconds) says when the time limit ends
    the run, for :func:`adaptation_eta`."""

    def work(ctx: JobContext) -> PretrainResult:
        budget_left = budget_seconds_left(config) if config is not None else None
        deadline_set = False

        def progress(event: dict[str, Any]) -> None:
            nonlocal deadline_set
            if (message := progress_message(event)) is not None:
                ctx.set_message(message)
            step, total = event.get("step"), event.get("total_steps")
            if event.get("event") == "start":
                ctx.progress(int(event.get("start_step") or 0), int(total or 0) or None)
            elif isinstance(step, int):
                if budget_left is not None and not deadline_set:  # the limit counts training time
                    ctx.set_meta(train_deadline=time.time() + budget_left)
                    deadline_set = True
                ctx.progress(step, int(total) if isinstance(total, int) else None)
                if event.get("loss") is not None:
                    ctx.log(step=step, loss=float(event["loss"]))
            elif event.get("event") == "eval" and event.get("perplexity") is not None:
                ctx.set_meta(**{f"perplexity_{event.get('moment')}": float(event["perplexity"])})

        kwargs: dict[str, Any] = {"progress": progress}
        if "should_stop" in inspect.signature(pretrain_fn).parameters:
            kwargs["should_stop"] = lambda: ctx.stop_requested
        try:
            run_config = config
            if config is not None and needs_budget_plan(config):
                minutes = f"{config.max_minutes:g} minutes"
                ctx.set_message(f"Reading the documents and measuring this machine's speed for {minutes}…")
                plan = plan_fn(config, should_stop=lambda: ctx.stop_requested)
                if ctx.stop_requested:  # stopped before training began: nothing to save or resume
                    raise JobCancelled()
                ctx.set_meta(plan=plan.describe())
                run_config = fitted_config(config, plan)
            return pretrain_fn(run_config, **kwargs)
        finally:
            if cleanup is not None:
                cleanup()

    return work


def adaptation_eta(snapshot: JobSnapshot, deadline: float | None, now: float | None = None) -> float | None:
    """Seconds left: at the pace of the steps so far, but never past the time limit's end
    (``deadline``, epoch seconds; None: no limit), which stops the run whatever the steps left."""
    at_pace = snapshot.eta_seconds
    if deadline is None or snapshot.finished:
        return at_pace
    left = max(0.0, deadline - (time.time() if now is None else now))
    return left if at_pace is None else min(at_pace, left)


def result_summary(result: PretrainResult) -> dict[str, Any]:
    """What the page shows when a run ends: the held-out perplexity before (once the new MLM head
    has warmed up, the fair reference) and after, the work done -- ``encoder steps``, the steps
    that trained the encoder itself (0: it is the starting encoder unchanged; None: unknown) --
    and where the encoder is."""

    def perplexity(moment: str) -> float | None:
        value = (result.heldout.get(moment) or {}).get("perplexity")
        return float(value) if isinstance(value, int | float) else None

    reference = perplexity("after_head_warmup") or perplexity("before")
    after = perplexity("after")
    return {
        "status": result.status,
        "folder": str(result.output_dir),
        "steps": f"{result.steps:,} of {result.total_steps:,}",
        "encoder steps": encoder_training_steps(result),
        "tokens seen": result.tokens_seen,
        "minutes": round(result.seconds / 60, 1),
        "held-out perplexity before": None if reference is None else round(reference, 2),
        "held-out perplexity after": None if after is None else round(after, 2),
        "stopped by the time limit": result.stopped_by_time,
        "notes": list(result.notes),
    }
