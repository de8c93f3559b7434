"""One run of ``python -m longbert.predict``: settings → engine → output ledger → store, resumable.

Order of writes, per chunk of rows: the output ledger first (flushed to disk), then the store (one
short transaction per row). A resume therefore trusts the store's count of the batch's rows: any
ledger rows past it were written but never stored, so they are cut off and run again -- the
output and the store each end up with every row exactly once, after a crash, Ctrl-C or kill -9
at any point. With ``--no-store`` the ledger alone says what is done.

An input classified again (its text changed, or it can be read now and could not before) gets a
new row; at the end of the run the ledger keeps only each input's latest row
(:meth:`~longbert.bulk.outputs.Ledger.compact`), so the output counts every input once. The
store's batch supersedes the input's earlier item as soon as the new row reaches it (in that
row's transaction: its counts, too, count every input once) but keeps the superseded item, so
its item count is still every row it was sent; the state file records how many rows the ledger
retired (``retired``): the ledger's rows plus those are the rows the store got. A kill during
that step is resolved on the next run from the ``compacting`` record written before the rename.

An input that could not be read before and reads now as a file or folder whose documents have
names of their own (a table cut short, then whole; a folder missing, then there) has no newer row
of its name to replace its error row: the reader reports it (``ReadCounter.on_read``) and the
compaction retires that row, its store item superseded just before
(:func:`~longbert.bulk.settle.compact`). One run at a time writes an output (a lock beside it:
:mod:`longbert.bulk.output_lock`), and an input keeps the name the output gave it whatever its
spelling this time (:mod:`longbert.bulk.spellings`).

However the run ends after its batch is opened (an error, Ctrl-C, the final table failing to
build), the batch is let go (interrupted) and its heartbeat thread stops.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from longbert.bulk.local import BulkResult, classify_items, prefetch, skip_done
from longbert.bulk.model import strategy_config
from longbert.bulk.options import PredictOptions
from longbert.bulk.output_lock import lock_output
from longbert.bulk.outputs import (
    Ledger,
    OutputError,
    check_not_an_input,
    claim_output,
    count_rows,
    discard_run,
    ledger_path,
    output_format,
    write_state,
)
from longbert.bulk.progress import Progress
from longbert.bulk.rows import ROWS_FORMAT, DoneInputs
from longbert.bulk.settle import compact, finish_compaction, store_mismatch, upgrade_rows
from longbert.bulk.sources import ReadCounter, input_bytes, iter_sources
from longbert.bulk.spellings import recorded_inputs, respell
from longbert.bulk.table_files import build_table
from longbert.cli_common import check_output
from longbert.errors import LongBertError

if TYPE_CHECKING:
    from longbert.bulk.store_sink import StoreSink

STATE_VERSION = 1
#: Rows written (ledger, then store) at a time.
WRITE_ROWS = 32


@dataclass
class RunSummary:
    """``documents``, ``errors``, ``skipped``: this run's inputs (classified or failed, of which
    failed, already done); ``rows``: the inputs the output holds (one row each), ``labelled``
    of those with a label rather than an error."""

    documents: int
    errors: int
    skipped: int
    seconds: float
    rows: int
    output: Path
    batch_id: int | None
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    labelled: int = 0


def run_predict(options: PredictOptions, stream: TextIO | None = None) -> RunSummary:
    """Run (or resume) a prediction job; see the module docstring for the guarantees."""
    if options.attention not in ("summary", "none"):
        raise LongBertError("--attention must be 'summary' or 'none'.")
    if options.batch_size < 1 or options.workers < 1 or options.gpus_per_worker < 0:
        raise LongBertError("--batch-size and --workers must be at least 1, --gpus-per-worker at least 0.")
    # Before the model loads: an output under a file (or a folder given as the file) is a message.
    # So is an output that would replace an input, or a file that is not this tool's own.
    check_not_an_input(Path(options.output).expanduser(), options.inputs)
    output = check_output(options.output, "--output")
    output_format(output)  # an unknown suffix is refused before the model loads
    # One run at a time per output, from reading its state to writing it for the last time:
    # a second run at once is refused before its model loads (longbert.bulk.output_lock).
    with lock_output(output):
        return _run_locked(options, output, stream)


def _run_locked(options: PredictOptions, output: Path, stream: TextIO | None) -> RunSummary:
    ledger = Ledger(ledger_path(output))
    fingerprint = options.fingerprint()
    state = claim_output(output, fingerprint, options.overwrite)
    # The inputs as this output names them: the same folder spelled otherwise keeps its rows.
    spelled, inputs = respell(options.inputs, recorded_inputs(state, options.db_url))
    options = replace(options, inputs=spelled)

    engine = _make_engine(options)
    _warn_if_no_exits(options, engine.model_name, stream)
    if options.overwrite:  # only now: a model that fails to load leaves the old run as it was
        discard_run(output)
    state = state or {"version": STATE_VERSION, "rows_format": ROWS_FORMAT, "run": fingerprint, "store": None}
    state["retired"] = int(state.get("retired") or 0)
    state["inputs"] = inputs
    sink = _open_sink(options, engine, output, state) if options.store else None
    try:
        summary = _run(options, engine, output, ledger, sink, state, stream)
    except BaseException:
        # Whatever stopped the run (Ctrl-C, the store or disk failing, the final table failing
        # to build), its batch is let go, so a long-lived process keeps no heartbeat thread
        # and History shows the batch interrupted: running the command again finishes it.
        if sink is not None:
            _end_sink(sink, "interrupted")
        raise
    if sink is not None:
        sink.mark("done")
    write_state(output, {**state, "status": "done"})
    return summary


def _warn_if_no_exits(options: PredictOptions, model_name: str, stream: TextIO | None) -> None:
    """One ``warning:`` line (even with ``quiet``) when ``--exit-threshold`` is given for a model
    without early exits: it runs every layer, and its rows record no threshold. Said here, by
    the driver, for both engines (Ray's actors log where nobody reads)."""
    spec = options.spec
    if spec.exit_threshold is not None and not spec.has_early_exits():
        from longbert.exit_threshold import no_exits_message

        print(f"warning: {no_exits_message(model_name, spec.exit_threshold)}", file=stream or sys.stderr)


def _open_sink(options: PredictOptions, engine: Any, output: Path, state: dict[str, Any]) -> StoreSink:
    """The run's store batch (a new one, or the one ``state`` names), held by this process
    (:meth:`~longbert.bulk.store_sink.StoreSink.open_batch`); recorded in ``state``."""
    from longbert.bulk.store_sink import StoreSink

    sink = StoreSink(options.db_url)
    stored = state.get("store")
    if stored is not None and stored.get("database_id") != sink.database_id:
        raise OutputError(
            f"{output} was recorded in another database ({stored.get('where')}), not {sink.where}. "
            "Set LONGBERT_DB_URL to that database, or use another --output."
        )
    config = {
        "model": options.spec.model or "zero-shot",
        "model_name": engine.model_name,
        "strategy": engine.strategy_config,
        "labels": options.spec.labels,
        "exit_threshold": options.spec.exit_threshold,  # None: the model's own (or no exits)
        "batch_size": options.batch_size,
        "files": [str(p) for p in options.inputs[:200]],
        "text_column": options.text_column,
        "cli": {"output": str(output), "engine": options.engine},
    }
    name = options.batch_name or f"predict → {output.name}"
    batch_id = sink.open_batch(name, config, stored.get("batch_id") if stored else None)
    state["store"] = {"where": sink.where, "database_id": sink.database_id, "batch_id": batch_id}
    return sink


def _end_sink(sink: StoreSink, status: str) -> None:
    """End the run's hold on its batch while another error is on its way up: the heartbeat
    stops first (:meth:`~longbert.store.BatchLease.end`), and a store that fails to record the
    status (a lease that then lapses by itself) must not hide that error."""
    with contextlib.suppress(Exception):
        sink.mark(status)


def _run(
    options: PredictOptions,
    engine: Any,
    output: Path,
    ledger: Ledger,
    sink: StoreSink | None,
    state: dict[str, Any],
    stream: TextIO | None,
) -> RunSummary:
    """Resume the ledger in step with the store, label what is left, compact the ledger and
    build the output table; the caller ends the batch (done, or interrupted on any error)."""
    keep_rows: int | None = None
    stored_rows = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    finish_compaction(state, ledger)
    upgrade_rows(state, ledger, output)
    if sink is not None:
        stored_rows = sink.stored_rows()  # every row the batch was sent, superseded ones included
        keep_rows = stored_rows - state["retired"]  # the ledger's rows that reached the store
        if keep_rows < 0:
            raise store_mismatch(output, state, stored_rows, count_rows(ledger.path))
    write_state(output, {**state, "status": "running"})
    done = ledger.open(keep_rows, int(state.get("legacy_rows") or 0))
    if keep_rows is not None and ledger.rows < keep_rows:
        ledger.close()
        raise store_mismatch(output, state, stored_rows, ledger.rows)

    counter = ReadCounter()
    # A file or folder that reads now retires the error row it had (missing, cut short...).
    counter.on_read = lambda name: ledger.retire_error(name) if done.has_error(name) else None
    total: list[int | None] = [None]
    skip = options.input_options().skip
    sizer = threading.Thread(
        target=lambda: total.__setitem__(0, input_bytes(options.inputs, skip)), daemon=True
    )
    sizer.start()
    written = [0]  # the input bytes whose rows are written (see SourceItem.position)

    def fraction() -> float | None:
        # Ray reads on its workers: the driver cannot see how far they are, so no ETA there.
        if not total[0] or options.engine != "local":
            return None
        return work_fraction(written[0], counter, total[0])

    progress = Progress(Progress.wanted(options.quiet, stream), fraction, stream)
    counter.on_work = progress.start_work  # rates and ETA from the first input to classify
    skipped = [0]
    try:
        pending: list[BulkResult] = []
        for result in engine.results(done, counter, skipped):
            pending.append(result)
            if len(pending) >= WRITE_ROWS:
                _write(pending, ledger, sink, progress, written)
                pending = []
        _write(pending, ledger, sink, progress, written)
    except BaseException:
        ledger.close()
        progress.close()
        if sink is not None:
            _end_sink(sink, "interrupted")
        write_state(output, {**state, "status": "interrupted"})
        raise
    ledger.close()
    progress.totals.skipped = skipped[0]
    progress.close()
    # From here a failure leaves the state file as it is: it may hold a compaction to settle.
    if sink is None or ledger.rows + state["retired"] == sink.stored_rows():
        # Only when the store has every row (it always has here): the retired count stays true.
        compact(ledger, output, state, sink)
    rows, labelled = ledger.counts()
    fmt = output_format(output)
    if fmt != "jsonl":
        rows = build_table(ledger.path, output, fmt, multi_label=engine.multi_label)
    t = progress.totals
    return RunSummary(
        documents=t.documents,
        errors=t.errors,
        skipped=skipped[0],
        seconds=t.seconds,
        rows=rows,
        output=output,
        batch_id=state["store"]["batch_id"] if state.get("store") else None,
        text=progress.summary(),
        labelled=labelled,
    )


def work_fraction(written: int, counter: ReadCounter, total: int) -> float | None:
    """The share of this run's work done, by input bytes: ``written`` bytes (of the inputs whose
    rows are written) over the bytes to do. Inputs skipped as already done count in neither;
    while the reader has not reached the end, the unread bytes are assumed to hold as many
    already-done inputs as the bytes read since the first input to classify did (so below 100%
    until all is read). The already-done head of a resume is left out of that share: it says
    nothing of the rest, and counting it would take most unread bytes for done, and the ETA at
    the start of a resume for a fraction of the real one. None while nothing can be said."""
    read, skipped = counter.bytes_done, counter.bytes_skipped
    head = min(counter.skipped_head or 0, skipped)
    to_do_read = max(read - skipped, 0)
    unread = max(total - read, 0)
    seen = read - head  # the bytes read from the first input to classify on
    to_do = to_do_read + (unread * to_do_read / seen if seen > 0 else unread)
    if to_do <= 0:
        return 1.0 if read >= total else None
    return min(written / to_do, 1.0 if unread == 0 else 0.99)


def _write(
    results: list[BulkResult], ledger: Ledger, sink: Any, progress: Progress, written: list[int]
) -> None:
    if not results:
        return
    written[0] = max(written[0], *(r.item.position for r in results))
    ledger.append(r.row for r in results)
    if sink is not None:
        from longbert.results import PredictionError

        sink.write(
            [
                (
                    r.result if r.result is not None else PredictionError(r.item.name, r.row["error"]),
                    r.item.document,
                )
                for r in results
            ]
        )
        sink.mark("running")
    errors = sum(1 for r in results if r.row.get("error"))
    tokens = sum(int(r.row.get("used_tokens") or 0) for r in results)
    progress.update(len(results), errors, tokens)


class LocalEngine:
    """This process: the classifier loaded once, inputs read in a background thread."""

    def __init__(self, options: PredictOptions) -> None:
        self.options = options
        self.classifier = options.spec.load()
        self.strategy, self.model_settings = options.spec.strategy_for(self.classifier.strategy)
        self.model_name = self.classifier.name
        self.multi_label = bool(getattr(self.classifier, "multi_label", False))
        self.strategy_config = strategy_config(self.strategy, self.model_settings)

    def results(self, done: DoneInputs, counter: ReadCounter, skipped: list[int]) -> Iterator[BulkResult]:
        o = self.options
        sources = iter_sources(o.inputs, o.input_options(), counter)
        items = prefetch(skip_done(sources, done, skipped, counter))
        yield from classify_items(
            self.classifier,
            items,
            strategy=self.strategy,
            model_settings=self.model_settings,
            batch_size=o.batch_size,
            attention=o.attention,
            exit_threshold=o.spec.exit_threshold,
        )


def _make_engine(options: PredictOptions) -> Any:
    if options.engine == "local":
        return LocalEngine(options)
    if options.engine == "ray":
        from longbert.bulk.ray_engine import RayEngine

        return RayEngine(options)
    raise LongBertError(f"--engine must be 'local' or 'ray', not {options.engine!r}.")


def describe(options: PredictOptions) -> dict[str, Any]:
    """The options as JSON-able values (for logs and benchmarks)."""
    data = asdict(options)
    data["output"] = str(options.output)
    data["pid"] = os.getpid()
    data["python"] = sys.version.split()[0]
    return data
