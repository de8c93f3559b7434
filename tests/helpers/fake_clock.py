"""A clock for tests of timings: time moves only when the test says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class FakeClock:
    """Seconds as ``time.monotonic`` / ``perf_counter`` give them; :meth:`advance` moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def per_step(self, seconds: float) -> Callable[[dict[str, Any]], None]:
        """A training or pre-training run's progress callback that makes each optimiser step
        take ``seconds``."""

        def tick(event: dict[str, Any]) -> None:
            if event["event"] in ("step", "progress"):
                self.advance(seconds)

        return tick
