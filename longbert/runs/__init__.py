"""What every long job shares: its state and resumable copy, its reporter, clean stopping.

A long job (fine-tuning today; pre-training, batch prediction and compression next) keeps its
counters in a :class:`RunState`, saves and resumes it with :func:`save_last` /
:func:`load_last`, stops cleanly through :class:`StopSignal`, and sends everything it has to
say -- terminal lines, progress events, its database record -- through one
:class:`RunReporter`, which alone finishes the record.
"""

from longbert.runs.reporter import ProgressFn, RunReporter, StopSignal, metrics_json
from longbert.runs.state import (
    LAST,
    LastState,
    OldContents,
    RunState,
    last_folder,
    load_last,
    remove_last,
    save_last,
)

__all__ = [
    "LAST",
    "LastState",
    "OldContents",
    "ProgressFn",
    "RunReporter",
    "RunState",
    "StopSignal",
    "last_folder",
    "load_last",
    "metrics_json",
    "remove_last",
    "save_last",
]
