"""The progress line on a terminal (documents, docs/s, tokens/s, errors, ETA) and the summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from longbert.ui.formatting import format_duration


@dataclass
class Totals:
    documents: int = 0
    errors: int = 0
    tokens: int = 0
    skipped: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def seconds(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)


class Progress:
    """Redraws one line on ``stream`` at most every ``interval`` seconds; silent unless enabled.

    ``fraction`` returns the share of the input done (by bytes of input files), or None while
    the total is not known yet: the ETA needs it.
    """

    def __init__(
        self,
        enabled: bool,
        fraction: Callable[[], float | None] = lambda: None,
        stream: TextIO | None = None,
        interval: float = 0.25,
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.fraction = fraction
        self.interval = interval
        self.totals = Totals()
        self._drawn = 0.0

    @staticmethod
    def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        return not quiet and hasattr(stream, "isatty") and stream.isatty()

    def update(self, documents: int, errors: int, tokens: int, force: bool = False) -> None:
        t = self.totals
        t.documents += documents
        t.errors += errors
        t.tokens += tokens
        now = time.monotonic()
        if self.enabled and (force or now - self._drawn >= self.interval):
            self._drawn = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        t = self.totals
        rate = t.documents / t.seconds
        fraction = self.fraction()
        eta = "?"
        if fraction is not None and 0 < fraction < 1:
            eta = _duration(t.seconds * (1 - fraction) / fraction)
        elif fraction is not None and fraction >= 1:
            eta = "0s"
        bar = ""
        if fraction is not None:
            filled = int(20 * min(max(fraction, 0.0), 1.0))
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {100 * min(fraction, 1.0):3.0f}% "
        return (
            f"{bar}{t.documents:,} docs · {rate:,.1f} docs/s · {t.tokens / t.seconds:,.0f} tokens/s · "
            f"{t.errors:,} errors · ETA {eta}"
        )

    def close(self) -> None:
        if self.enabled:
            self.update(0, 0, 0, force=True)
            self.stream.write("\n")
            self.stream.flush()

    def summary(self) -> str:
        t = self.totals
        skipped = f", {t.skipped:,} already done (skipped)" if t.skipped else ""
        return (
            f"{t.documents:,} documents in {_duration(t.seconds)} ({t.documents / t.seconds:,.1f} docs/s, "
            f"{t.tokens / t.seconds:,.0f} tokens/s): {t.documents - t.errors:,} labelled, "
            f"{t.errors:,} errors{skipped}."
        )


def _duration(seconds: float) -> str:
    return format_duration(seconds, compact=True)
