"""One run of ``python -m longbert.predict``: settings → engine → output ledger → store, resumable.

Order of writes, per chunk of rows: the output ledger first (flushed to disk), then the store (one
short transaction per row). A resume therefore trusts the store's count of the batch's rows: any
ledger rows past it were written but never stored, so they are cut off and run again -- the
output and the store each end up with every input exactly once, after a crash, Ctrl-C or kill -9
at any point. With ``--no-store`` the ledger alone says what is done.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from longbert.bulk.local import BulkResult, classify_items, prefetch, skip_done
from longbert.bulk.model import strategy_config
from longbert.bulk.options import PredictOptions
from longbert.bulk.outputs import (
    Ledger,
    OutputError,
    build_table,
    check_not_an_input,
    claim_output,
    discard_run,
    ledger_path,
    output_format,
    write_state,
)
from longbert.bulk.progress import Progress
from longbert.bulk.sources import ReadCounter, input_bytes, iter_sources
from longbert.cli_common import check_output
from longbert.errors import LongBertError

STATE_VERSION = 1
#: Rows written (ledger, then store) at a time.
WRITE_ROWS = 32


@dataclass
class RunSummary:
    documents: int
    errors: int
    skipped: int
    seconds: float
    rows: int
    output: Path
    batch_id: int | None
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


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
    fmt = output_format(output)
    ledger = Ledger(ledger_path(output))
    fingerprint = options.fingerprint()
    state = claim_output(output, fingerprint, options.overwrite)

    engine = _make_engine(options)
    if options.overwrite:  # only now: a model that fails to load leaves the old run as it was
        discard_run(output)
    sink = None
    keep_rows = None
    state = state or {"version": STATE_VERSION, "run": fingerprint, "store": None}
    if options.store:
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
            "batch_size": options.batch_size,
            "files": [str(p) for p in options.inputs[:200]],
            "text_column": options.text_column,
            "cli": {"output": str(output), "engine": options.engine},
        }
        name = options.batch_name or f"predict → {output.name}"
        batch_id = sink.open_batch(name, config, stored.get("batch_id") if stored else None)
        state["store"] = {"where": sink.where, "database_id": sink.database_id, "batch_id": batch_id}
        keep_rows = sink.stored_rows()
    output.parent.mkdir(parents=True, exist_ok=True)
    write_state(output, {**state, "status": "running"})
    done = ledger.open(keep_rows)
    if keep_rows is not None and ledger.rows < keep_rows:
        ledger.close()
        raise OutputError(
            f"The store's batch #{state['store']['batch_id']} holds {keep_rows:,} results but {ledger.path} "
            f"only {ledger.rows:,} rows (was it edited or replaced?). Use another --output."
        )

    counter = ReadCounter()
    total: list[int | None] = [None]
    skip = options.input_options().skip
    sizer = threading.Thread(
        target=lambda: total.__setitem__(0, input_bytes(options.inputs, skip)), daemon=True
    )
    sizer.start()

    def fraction() -> float | None:
        # Ray reads on its workers: the driver cannot see how far they are, so no ETA there.
        if not total[0] or options.engine != "local":
            return None
        return counter.bytes_done / total[0]

    progress = Progress(Progress.wanted(options.quiet, stream), fraction, stream)
    skipped = [0]
    try:
        pending: list[BulkResult] = []
        for result in engine.results(done, counter, skipped):
            pending.append(result)
            if len(pending) >= WRITE_ROWS:
                _write(pending, ledger, sink, progress)
                pending = []
        _write(pending, ledger, sink, progress)
    except BaseException:
        ledger.close()
        progress.close()
        if sink is not None:
            sink.mark("interrupted")
        write_state(output, {**state, "status": "interrupted"})
        raise
    ledger.close()
    progress.totals.skipped = skipped[0]
    progress.close()
    rows = ledger.rows
    if fmt != "jsonl":
        rows = build_table(ledger.path, output, fmt)
    if sink is not None:
        sink.mark("done")
    write_state(output, {**state, "status": "done"})
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
    )


def _write(results: list[BulkResult], ledger: Ledger, sink: Any, progress: Progress) -> None:
    if not results:
        return
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
        self.strategy_config = strategy_config(self.strategy, self.model_settings)

    def results(self, done: np.ndarray, counter: ReadCounter, skipped: list[int]) -> Iterator[BulkResult]:
        o = self.options
        sources = iter_sources(o.inputs, o.input_options(), counter)
        items = prefetch(skip_done(sources, done, skipped))
        yield from classify_items(
            self.classifier,
            items,
            strategy=self.strategy,
            model_settings=self.model_settings,
            batch_size=o.batch_size,
            attention=o.attention,
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
