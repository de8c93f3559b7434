"""A pre-training run's clock: training time (state saves excluded), the time budget
(``max_minutes``), the share of it the MLM head's warm-up may take, and when to save the state.

The head warm-up is planned in steps (a tenth of the run when the checkpoint brings no head), but a
time budget can end the run long before the planned steps: a run stopped inside the warm-up would
save the untouched encoder. So with a budget the warm-up ends once it has taken
:data:`HEAD_WARMUP_BUDGET_SHARE` of it (measured as the run goes, over every session of a resumed
run), leaving the rest to the whole model. Without a budget nothing here changes the schedule.
"""

from __future__ import annotations

from time import perf_counter

from longbert.pretraining.state import PretrainState

#: Most of the time budget the head warm-up may take (the planned warm-up is a tenth of the steps).
HEAD_WARMUP_BUDGET_SHARE = 0.1


class RunClock:
    """Seconds trained in this session and before it (``state.train_seconds``), saves excluded."""

    def __init__(self, state: PretrainState, max_minutes: float, save_every_minutes: float) -> None:
        self.state = state
        self.budget, self.interval = 60.0 * max_minutes, 60.0 * save_every_minutes
        self.session_start = self.last_save = self._save_started = perf_counter()
        self.saving = 0.0
        self.session_tokens = 0

    def session_seconds(self) -> float:
        return perf_counter() - self.session_start - self.saving

    def trained_seconds(self) -> float:
        """Training time of the whole run so far (earlier sessions of a resumed run included)."""
        return self.state.train_seconds + self.session_seconds()

    def over_budget(self) -> bool:
        return bool(self.budget) and self.trained_seconds() >= self.budget

    def head_share_spent(self) -> bool:
        """With a time budget: the head warm-up has had its share of it."""
        return bool(self.budget) and self.trained_seconds() >= HEAD_WARMUP_BUDGET_SHARE * self.budget

    def tokens_per_second(self) -> float:
        return self.session_tokens / max(self.session_seconds(), 1e-9)

    def save_due(self) -> bool:
        return self.interval > 0 and perf_counter() - self.last_save >= self.interval

    def start_save(self) -> None:
        """Book the training time so far into the state (which is about to be saved)."""
        self._save_started = perf_counter()
        self.state.train_seconds += self._save_started - self.session_start - self.saving
        self.session_start, self.saving = self._save_started, 0.0

    def end_save(self) -> None:
        self.last_save = perf_counter()
        self.saving = self.last_save - self._save_started

    def close(self) -> None:
        """Book this session's remaining training time into the state."""
        self.state.train_seconds += self.session_seconds()
