"""A clock for tests of timings: time moves only when the test says so."""

from __future__ import annotations


class FakeClock:
    """Seconds as ``time.monotonic`` / ``perf_counter`` give them; :meth:`advance` moves it.
    (tests/test_pretrain_budget.py has its own, with a per-step callback for training runs.)"""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
