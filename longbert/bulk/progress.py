"""The progress line on a terminal (documents, docs/s, tokens/s, errors, ETA) and the summary.

Rates and the ETA are this run's work over the time it took: on a resume the clock starts when
the first input to classify is read (:meth:`Progress.start_work`), not while the reader skips the
inputs done before -- quickly, as hashing them is fast -- so a resume's first ETA is neither
inflated by that time nor taken from inputs this run does not classify. The Ray engine, whose
workers read and classify, says when its actors began classifying the first inputs to do.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from longbert.ui.formatting import format_duration


@dataclass
class Totals:
    """What a run did so far, and its clock (``clock``: seconds, monotonic)."""

    documents: int = 0
    errors: int = 0
    tokens: int = 0
    skipped: int = 0
    #: Read by the properties below; ``started`` is a reading of it.
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    started: float = field(default_factory=time.monotonic)
    #: When the first input to classify was read (None: not known; then the run's start).
    work_started: float | None = None

    @property
    def seconds(self) -> float:
        """The whole run so far."""
        return max(self.clock() - self.started, 1e-9)

    @property
    def work_seconds(self) -> float:
        """The run's work so far: since the first input to classify was read."""
        began = self.started if self.work_started is None else self.work_started
        return max(self.clock() - began, 1e-9)

    @property
    def head_seconds(self) -> float:
        """The time spent before the work began (skipping inputs done before)."""
        return 0.0 if self.work_started is None else max(self.work_started - self.started, 0.0)


class Progress:
    """Redraws one line on ``stream`` at most every ``interval`` seconds; silent unless enabled.

    ``fraction`` returns the share of this run's work done (by bytes of input files), or None
    while the total is not known yet: the ETA needs it. ``clock``: seconds, monotonic.
    """

    def __init__(
        self,
        enabled: bool,
        fraction: Callable[[], float | None] = lambda: None,
        stream: TextIO | None = None,
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.fraction = fraction
        self.interval = interval
        self.clock = clock
        self.totals = Totals(clock=clock, started=clock())
        self._drawn = 0.0

    def start_work(self, ago: float = 0.0) -> None:
        """This run's work began ``ago`` seconds before now: the rates and the ETA count from
        then; the earliest moment reported counts (a later call only moves it earlier, never
        before the run's start). The local engine's reader calls it once, when it reads the first
        input to classify (:meth:`~longbert.bulk.sources.ReadCounter.work_begins`); the Ray
        engine's driver hears of the work only as rows come back, and says how long before that
        their classifying began (:class:`~longbert.bulk.ray_engine.RayEngine`)."""
        at = max(self.clock() - max(ago, 0.0), self.totals.started)
        if self.totals.work_started is None or at < self.totals.work_started:
            self.totals.work_started = at

    @staticmethod
    def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        return not quiet and hasattr(stream, "isatty") and stream.isatty()

    def update(self, documents: int, errors: int, tokens: int, force: bool = False) -> None:
        t = self.totals
        t.documents += documents
        t.errors += errors
        t.tokens += tokens
        now = self.clock()
        if self.enabled and (force or now - self._drawn >= self.interval):
            self._drawn = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def eta_seconds(self, fraction: float | None) -> float | None:
        """Seconds left when ``fraction`` of this run's work is done: the work's time so far
        scaled to the rest (None: nothing can be said yet)."""
        if fraction is None or fraction <= 0:
            return None
        return 0.0 if fraction >= 1 else self.totals.work_seconds * (1 - fraction) / fraction

    def line(self) -> str:
        t = self.totals
        seconds = t.work_seconds
        rate = t.documents / seconds
        fraction = self.fraction()
        left = self.eta_seconds(fraction)
        eta = "?" if left is None else _duration(left)
        bar = ""
        if fraction is not None:
            filled = int(20 * min(max(fraction, 0.0), 1.0))
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {100 * min(fraction, 1.0):3.0f}% "
        return (
            f"{bar}{t.documents:,} docs · {rate:,.1f} docs/s · {t.tokens / seconds:,.0f} tokens/s · "
            f"{t.errors:,} errors · ETA {eta}"
        )

    def close(self) -> None:
        if self.enabled:
            self.update(0, 0, 0, force=True)
            self.stream.write("\n")
            self.stream.flush()

    def summary(self) -> str:
        """What the run did, its rates over its work (the inputs it classified), and the inputs
        it skipped as already done with the time it took to read past them."""
        t = self.totals
        seconds = t.work_seconds
        head = "" if t.work_started is None else f" in {_duration(t.head_seconds)}"
        skipped = f", {t.skipped:,} already done (skipped){head}" if t.skipped else ""
        return (
            f"{t.documents:,} documents in {_duration(seconds)} ({t.documents / seconds:,.1f} docs/s, "
            f"{t.tokens / seconds:,.0f} tokens/s): {t.documents - t.errors:,} labelled, "
            f"{t.errors:,} errors{skipped}."
        )


def _duration(seconds: float) -> str:
    return format_duration(seconds, compact=True)
