"""Where a long job's news goes: the terminal, progress events, and its record in the database.

One :class:`RunReporter` per run. It alone talks to the store about the run -- it opens the
record (or reopens a resumed run's), logs epochs, registers the model it saved, and finishes the
record exactly once: with the status the job returns, or ``failed``/``interrupted`` when the job
raises (:meth:`RunReporter.finishing`). Only the main process of a distributed run reports.
Fine-tuning uses it today; pre-training, batch prediction and compression are written to use it
too: nothing here knows what the job computes.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from tqdm.auto import tqdm

from longbert.runs.state import RunState

#: Receives every progress event: ``{"event": "start"|"step"|"progress"|..., ...}``.
ProgressFn = Callable[[dict[str, Any]], None]


def metrics_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """A JSON-safe copy of a metrics dict (numpy numbers become Python ones)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=lambda x: x.item() if hasattr(x, "item") else str(x)))


class RunReporter:
    """The terminal, the ``progress`` callback and the database record of one run.

    ``quiet`` silences the terminal; ``record`` False keeps the run out of the database;
    ``main`` False (other ranks of a distributed run) makes every method a no-op. The record
    follows the best model saved so far (:meth:`model_saved`): finishing writes its metrics and
    folder.
    """

    def __init__(
        self,
        name: str,
        *,
        progress: ProgressFn | None = None,
        quiet: bool = False,
        record: bool = True,
        main: bool = True,
    ) -> None:
        self.name, self.progress, self.quiet, self.record, self.main = name, progress, quiet, record, main
        self.store: Any = None
        self.run_id: int | None = None
        self.best_metrics: dict[str, Any] | None = None
        self.model_folder: Path | None = None
        self.finished: str | None = None

    # -- terminal and events ----------------------------------------------------------------

    def say(self, message: str) -> None:
        if self.main and not self.quiet:
            tqdm.write(message)

    def emit(self, event: str, **fields: Any) -> None:
        """Send ``{"event": event, **fields}`` to the progress callback."""
        if self.main and self.progress is not None:
            self.progress({"event": event, **fields})

    # -- the database record ----------------------------------------------------------------

    def open(self, state: RunState, model_folder: Path | None = None) -> None:
        """Start the run's record, or mark a resumed run's record running again (a killed run's
        record still says ``running``; a stopped one ``interrupted``); sets ``state.run_id``.

        ``model_folder``: where a resumed run's best model already is.
        """
        if not (self.main and self.record):
            return
        from longbert.store import RecordNotFoundError, get_store

        self.store = get_store()
        self.model_folder = model_folder
        if state.run_id is not None:
            best = next((h["dev"] for h in state.history if h["epoch"] == state.best_epoch), None)
            self.best_metrics = metrics_json(best)
            try:
                before = self.store.get_training_run(state.run_id).status
                self._write_status(state.run_id, "running")
                self.run_id = state.run_id
                if before == "running":
                    self.say(f"Run #{state.run_id} was still marked running: its process was killed.")
                return
            except RecordNotFoundError:
                self.say(f"Run #{state.run_id} is not in this database: recording a new run.")
        state.run_id = self.run_id = self.store.start_training_run(self.name, state.config)

    def log_epoch(self, epoch: int, record: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.log_epoch(self.run_id, epoch, metrics_json(record))

    def model_saved(self, folder: Path, metrics: dict[str, Any] | None, **model: Any) -> None:
        """The run saved its best model so far in ``folder``: register it (``model`` holds the
        store's model fields: encoder, labels, strategy, multi_label...) and remember it for
        the run's record."""
        self.model_folder, self.best_metrics = folder, metrics_json(metrics)
        if self.store is not None:
            self.store.register_model(self.name, folder=str(folder), metrics=self.best_metrics, **model)

    def finish(self, status: str) -> None:
        """Close the record with ``status`` (``done``, ``interrupted``, ``failed``) and the best
        model's metrics and folder. Only the first call counts."""
        if self.finished is not None:
            return
        self.finished = status
        if self.store is not None and self.run_id is not None:
            self._write_status(self.run_id, status)

    @contextlib.contextmanager
    def finishing(self) -> Iterator[None]:
        """Finish the record ``interrupted`` (Ctrl-C twice) or ``failed`` if the block raises."""
        try:
            yield
        except BaseException as error:
            self.finish("interrupted" if isinstance(error, KeyboardInterrupt) else "failed")
            raise

    def _write_status(self, run_id: int, status: str) -> None:
        folder = str(self.model_folder) if self.model_folder is not None else None
        self.store.finish_training_run(run_id, status, self.best_metrics, folder)


class StopSignal:
    """``stop()`` is True once SIGINT/SIGTERM arrived or ``should_stop()`` says so.

    The first Ctrl-C asks for a clean stop (state saved at the next step); a second one raises
    KeyboardInterrupt at once. Handlers are installed only in the main thread (the web app runs
    jobs in a worker thread and stops them through ``should_stop``) and restored on exit.
    """

    def __init__(self, should_stop: Callable[[], bool] | None, say: Callable[[str], None]) -> None:
        self.should_stop, self.say = should_stop, say
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        self.say(
            f"{signal.Signals(signum).name}: stopping after this step and saving the training state "
            "(Ctrl-C again to abort without saving)."
        )

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def __call__(self) -> bool:
        if not self.requested and self.should_stop is not None and self.should_stop():
            self.requested = True
        return self.requested
