"""Labelling an upload batch as a resumable background job: read files, classify, save each result.

Two passes, so that memory stays flat and an interrupted batch can be resumed:

1. *Stage* (:func:`stage_batch`): uploaded files are read one at a time (archives and tables
   expand into many documents); each document's text goes to the batch spool on disk
   (:mod:`longbert.store.spool`), each unreadable file becomes an error item at once. Then the
   batch and its items are created in the database.
2. *Classify* (:func:`classify_batch`): pending items are loaded from the spool a few at a time,
   classified, and each prediction is saved (with its document) in its own transaction, which
   also marks the item done.

Resuming (after a stop or a server restart) runs pass 2 over the items still pending. A batch
that ``python -m longbert.predict`` recorded is not the app's to resume (it has no items to run:
its command appends its rows as they come, and resumes from its output): :func:`classify_batch`
refuses it with :func:`command_line_hint`, the command to run again. A spooled
text is deleted once its prediction is saved, and the batch's spool folder when the batch is done.
Each item records the SHA-256 of its text when staged, and a text read back must match it.

An early-exit model's threshold is part of the batch's settings (``exit_threshold``): every
run of the batch classifies with it (:func:`batch_classify`, which the Batch page and a resume
from History both use), and a run whose predictions record another threshold is refused before
any of them is saved (:class:`MixedThresholdError`), so one batch never mixes thresholds.

A table row's other columns (id, title, a gold label...) come from the reader with the row
itself (``ReadDocument.fields``) and are kept with its item, so exports join back to the very
row they were read from.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from longbert.document import Document
from longbert.errors import LongBertError, UnreadableFileError
from longbert.exit_threshold import check_exit_threshold
from longbert.readers import FileError, ReadLimits, TableOptions, read_many
from longbert.results import Prediction, PredictionError
from longbert.store import BatchItemRecord, BatchLease, Store
from longbert.store.batches import is_open_ended
from longbert.store.spool import SPOOL_KEY, BatchSpool, SpoolStager
from longbert.ui.jobs import JobContext
from longbert.ui.tables import batch_rows, result_row

#: Documents classified per ``predict`` call: small enough that rows appear every few seconds
#: on a CPU even for long documents (the model still batches their windows together).
CHUNK_DOCUMENTS = 4
#: Characters kept per source column value (longer cells are cut, marked with "…"): the columns
#: are there to join and score results, not to hold a second copy of long texts.
MAX_VALUE_CHARS = 2_000


@dataclass
class BatchSettings:
    """How a batch runs, stored as the batch's config so History can resume it the same way.

    ``model`` is a checkpoint folder or ``"zero-shot"`` (then ``labels`` holds the label
    descriptions); ``strategy`` ``{"name", "params"}`` or ``None`` for the model's own;
    ``exit_threshold`` an early-exit model's threshold (None: a model without exits, or a batch
    started before the app offered the control: the model's stored one). (Configs written
    before may hold a ``batch_size``, which was never applied; it is ignored.)
    """

    model: str
    model_name: str
    strategy: dict[str, Any] | None = None
    labels: dict[str, str] | None = None
    files: list[str] = field(default_factory=list)
    #: Column (CSV) or key (JSON Lines) holding each row's text.
    text_column: str = "text"
    #: The saved label set (zero-shot) each prediction records.
    label_set: str | None = None
    #: The early-exit threshold every run of the batch uses (None: the model's own).
    exit_threshold: float | None = None

    def to_config(self) -> dict[str, Any]:
        threshold = {} if self.exit_threshold is None else {"exit_threshold": self.exit_threshold}
        return {
            "model": self.model,
            "model_name": self.model_name,
            "strategy": self.strategy,
            "labels": self.labels,
            "files": self.files[:200],
            "text_column": self.text_column,
            "label_set": self.label_set,
            **threshold,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchSettings:
        return cls(
            model=str(config["model"]),
            model_name=str(config.get("model_name", config["model"])),
            strategy=config.get("strategy"),
            labels=config.get("labels"),
            files=list(config.get("files", [])),
            text_column=str(config.get("text_column", "text")),
            label_set=config.get("label_set"),
            # As stored: a bad value (an edited database) is refused when the batch runs
            # (:func:`batch_classify`), not here, where History and corrections read configs.
            exit_threshold=config.get("exit_threshold"),
        )


def stage_batch(
    ctx: JobContext,
    store: Store,
    name: str,
    files: Iterable[tuple[str, bytes]],
    settings: BatchSettings,
    *,
    num_files: int | None = None,
    limits: ReadLimits | None = None,
) -> int:
    """Pass 1: read every file, spool the texts, create the batch; returns its id.

    ``files`` is consumed lazily (a generator keeps one file's bytes in memory at a time).
    Unreadable files become error items with the reader's reason. On any failure (including a
    stop, or the spool's size cap) nothing is left: no batch row, no spooled text; a process
    killed meanwhile leaves a staging folder that :func:`~longbert.store.spool.sweep_spool`
    removes later.
    """
    stager = SpoolStager.open(store)
    names: list[str] = []
    hashes: list[str | None] = []
    errors: dict[int, str] = {}
    fields: dict[int, dict[str, Any]] = {}  # position -> the table row's other columns
    counted = _CountingFiles(files)
    ctx.progress(0, num_files, "Reading files…")
    try:
        for item in read_many(
            counted, source="batch", limits=limits, table=TableOptions(text_column=settings.text_column)
        ):
            ctx.check_stop()
            if item.fields:
                fields[len(names)] = _clipped(item.fields)
            if isinstance(item, FileError):
                errors[len(names)] = item.reason
                names.append(item.name)
                hashes.append(None)
                ctx.add_row(result_row(PredictionError(item.name, item.reason)), error=True)
            else:
                stager.write(len(names), item.document)
                names.append(item.document.name)
                hashes.append(item.document.sha256)
            ctx.progress(counted.count, num_files, f"Reading files… {len(names):,} documents so far")
        if not names:
            raise UnreadableFileError("The upload holds no documents: add at least one file.")
        stager.publish()
        config = {**settings.to_config(), SPOOL_KEY: stager.key}
        # Last, and one transaction with the items and their errors: nothing can fail after it.
        batch_id = store.create_batch(
            name, config=config, items=names, hashes=hashes, errors=errors, fields=fields
        )
    except BaseException:
        stager.discard()
        raise
    stager.close()
    return batch_id


def _clipped(fields: dict[str, Any]) -> dict[str, Any]:
    """A row's columns with each long value cut to :data:`MAX_VALUE_CHARS` (a JSON object or list
    that long becomes its cut JSON text)."""

    def clip(value: Any) -> Any:
        if isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False)
            return value if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            return value[:MAX_VALUE_CHARS] + "…"
        return value

    return {key: clip(value) for key, value in fields.items()}


class _CountingFiles:
    """Wraps the uploaded files and counts how many the reader has taken."""

    def __init__(self, files: Iterable[tuple[str, bytes]]) -> None:
        self._files = iter(files)
        self.count = 0

    def __iter__(self) -> _CountingFiles:
        return self

    def __next__(self) -> tuple[str, bytes]:
        item = next(self._files)
        self.count += 1
        return item


Classify = Callable[[Sequence[Document]], Sequence[Prediction | PredictionError]]


class MixedThresholdError(LongBertError):
    """A run of a batch classified at another early-exit threshold than the batch's."""


def batch_classify(classifier: Any, settings: BatchSettings) -> Classify:
    """How a batch's documents are classified, every run alike: ``classifier`` with the batch's
    strategy and early-exit threshold (checked once here, so a bad stored value fails the run
    with a clear message before any document is read)."""
    from longbert.ui.service import classify

    name = "the batch's exit threshold"
    threshold = check_exit_threshold(settings.exit_threshold, name)
    return lambda docs: classify(classifier, docs, settings.strategy, exit_threshold=threshold)


def _check_threshold(batch_id: int, config: dict[str, Any], results: Sequence[Any]) -> None:
    """Refuse results made at another early-exit threshold than the batch's (before any is
    saved): a resume through an old path, or a model whose stored threshold changed since."""
    expected = config.get("exit_threshold")
    if expected is None:
        return
    for result in results:
        if not isinstance(result, Prediction):
            continue
        ran = (result.extra or {}).get("exit_threshold")
        if ran is None or not isinstance(expected, int | float) or float(ran) != float(expected):
            raise MixedThresholdError(
                f"Batch #{batch_id} labels at early-exit threshold {expected!r}, but this run "
                f"classified at {'no threshold' if ran is None else f'{ran:g}'}: refused, so the "
                "batch does not mix thresholds (nothing of this run was saved). Resume it from "
                "History, which runs it at the batch's threshold, with the model it started with."
            )


def command_line_hint(batch_id: int, config: dict[str, Any], with_command: bool = True) -> str | None:
    """For a batch a command line made (:func:`~longbert.store.batches.is_open_ended`): what to
    do instead of resuming it here, ending with the command when the batch recorded it (unless
    ``with_command`` is False: :func:`recorded_command` gives it apart); else None."""
    if not is_open_ended(config):
        return None
    cli = config["cli"] if isinstance(config.get("cli"), dict) else {}
    output = f" (its --output was {cli['output']})" if cli.get("output") else ""
    hint = (f"Batch #{batch_id} was recorded by a command-line run (python -m longbert.predict): "
            f"re-run the same command{output} to continue it; it resumes from its output, "
            "without duplicates.")
    command = recorded_command(config)
    if command is not None and with_command:
        hint += f" The command, run{command[1]}: {command[0]}"
    return hint


def recorded_command(config: dict[str, Any]) -> tuple[str, str] | None:
    """The command that recorded a command line's batch and ``" in <its folder>"`` (or ``""``),
    when the batch holds them (:mod:`longbert.bulk.store_sink`); else None."""
    cli = config.get("cli")
    if not isinstance(cli, dict) or not cli.get("command"):
        return None
    return str(cli["command"]), f" in {cli['workdir']}" if cli.get("workdir") else ""


def classify_batch(
    ctx: JobContext,
    store: Store,
    batch_id: int,
    classify: Classify,
    *,
    show_finished: bool = True,
    chunk: int = CHUNK_DOCUMENTS,
) -> int:
    """Pass 2: classify the batch's pending items and save each result; returns how many ran.

    With ``show_finished``, rows for items finished earlier are added first (so a resumed batch
    shows its whole table). Stopping (``ctx.cancel``) or a failure leaves the batch
    ``interrupted``: History can resume it, and everything saved so far stays. While it runs the
    job holds the batch's worker lease (:class:`~longbert.store.BatchLease`); a batch another
    live worker holds is refused (:class:`~longbert.store.BatchBusyError`), so is a batch a
    command line made (:func:`command_line_hint` says why), before anything changes.
    """
    batch = store.get_batch(batch_id)
    if (hint := command_line_hint(batch_id, batch.config)) is not None:
        raise LongBertError(hint)
    spool = BatchSpool.of(store, batch)
    if show_finished:
        for row in batch_rows(store, batch_id):
            if row["status"] != "pending":
                ctx.add_row(row, error=row["status"] == "error")
    pending = store.pending_items(batch_id)
    finished = batch.total - len(pending)
    ctx.progress(finished, batch.total, "Classifying…")
    ran = 0
    if pending:
        # The lease shows History this batch is being worked on; a failure or a stop releases
        # it as "interrupted", and a killed process lets go of it by dying.
        with BatchLease(store, batch_id) as lease:
            for start in range(0, len(pending), chunk):
                lease.check()
                ctx.check_stop()
                part = pending[start : start + chunk]
                ran += _classify_items(ctx, store, batch_id, spool, part, classify, batch.config)
                finished += len(part)
                ctx.progress(finished, batch.total, "Classifying…")
    if not store.pending_items(batch_id):
        spool.remove()
        if store.get_batch(batch_id).status != "done":
            store.mark_batch_status(batch_id, "done")
    return ran


def _classify_items(
    ctx: JobContext,
    store: Store,
    batch_id: int,
    spool: BatchSpool,
    items: Sequence[BatchItemRecord],
    classify: Classify,
    config: dict[str, Any],
) -> int:
    """Classify some pending items and save each result (or why it failed) with the batch's
    label set; returns how many. Results at another early-exit threshold than the batch's are
    refused before any is saved (:class:`MixedThresholdError`)."""
    label_set = config.get("label_set")
    documents: list[tuple[int, Document]] = []
    for item in items:
        document, why = spool.read(item)
        if document is None:
            error = PredictionError(item.name, why, item.document_sha256)
            store.record_error(error, batch_id=batch_id, item_index=item.position)
            ctx.add_row(result_row(error), error=True)
        else:
            documents.append((item.position, document))
    results = classify([d for _, d in documents]) if documents else []
    _check_threshold(batch_id, config, results)
    for (position, document), result in zip(documents, results, strict=True):
        if isinstance(result, Prediction):
            pid = store.save_prediction(
                result,
                document,
                batch_id=batch_id,
                item_index=position,
                store_full_attention=False,
                label_set=label_set,
            )
            ctx.add_row(result_row(result, prediction_id=pid))
        else:
            store.record_error(result, batch_id=batch_id, item_index=position)
            ctx.add_row(result_row(result), error=True)
        spool.drop(position)
    return len(documents)


def upload_work(
    store: Store,
    name: str,
    files: Iterable[tuple[str, bytes]],
    settings: BatchSettings,
    classify_fn: Classify,
    *,
    num_files: int | None = None,
    limits: ReadLimits | None = None,
) -> Callable[[JobContext], int]:
    """A job function that stages an upload, then classifies it; publishes ``batch_id`` in the
    job's meta as soon as the batch exists (so History can find the job)."""

    def work(ctx: JobContext) -> int:
        batch_id = stage_batch(ctx, store, name, files, settings, num_files=num_files, limits=limits)
        ctx.set_meta(batch_id=batch_id)
        classify_batch(ctx, store, batch_id, classify_fn, show_finished=False)
        return batch_id

    return work


def resume_work(store: Store, batch_id: int, classify_fn: Classify) -> Callable[[JobContext], int]:
    """A job function that finishes an interrupted batch (pending items only)."""

    def work(ctx: JobContext) -> int:
        ctx.set_meta(batch_id=batch_id, resumed=True)
        errors_before = store.get_batch(batch_id).errors
        try:
            ran = classify_batch(ctx, store, batch_id, classify_fn, show_finished=True)
        finally:  # what *this* run did, for "Done: N documents" (not the earlier ones)
            ctx.set_meta(run_errors=store.get_batch(batch_id).errors - errors_before)
        ctx.set_meta(ran=ran)
        return batch_id

    return work
