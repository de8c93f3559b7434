"""Training from the Train page, then judging the result on its own dev set against the majority
baseline and zero-shot (:mod:`longbert.ui.evaluation`), so the page can say plainly when the new
model is no better. Nothing here changes the default model: only a person does (Models page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from longbert.ui.evaluation import Verdict, judge

#: Runs of at most this many optimiser steps report every step (the chart moves at once).
SMALL_RUN_STEPS = 2000
#: TrainConfig's own ``log_every`` default: a value the person did not change.
DEFAULT_LOG_EVERY = 10


def small_run_log_every(values: Mapping[str, Any], documents: int) -> int:
    """``log_every`` for a run of about ``documents`` training documents: 1 for a small run
    whose person left the default, else what they set."""
    chosen = int(values.get("log_every") or DEFAULT_LOG_EVERY)
    if chosen != DEFAULT_LOG_EVERY or documents <= 0:
        return chosen
    epochs = int(values.get("epochs") or 1)
    batch = max(int(values.get("batch_size") or 1), 1)
    steps = -(-documents // batch) * epochs
    return 1 if steps <= SMALL_RUN_STEPS else chosen


def _classify_with(labels: Sequence[str]) -> Callable[[str, Sequence[Any]], list[Any]]:
    def classify_with(key: str, documents: Sequence[Any]) -> list[Any]:
        from longbert.ui.service import classify, load_model

        model = load_model(key, {label: label for label in labels} if key == "zero-shot" else None)
        return classify(model, list(documents))

    return classify_with


def train_and_judge(config: Any, progress: Any = None, should_stop: Any = None,
                    train_fn: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Train (``longbert.training.train``), then judge a finished single-label run.

    Returns ``{"result": TrainResult, "verdict": Verdict | None, "problem": str | None}``;
    a failed comparison is a ``problem`` in words, never a failed training.
    """
    if train_fn is None:
        from longbert.training import train as train_fn
    result = train_fn(config, progress=progress, should_stop=should_stop)
    out: dict[str, Any] = {"result": result, "verdict": None, "problem": None}
    if getattr(result, "status", None) != "done":
        out["problem"] = "the run did not finish."
        return out
    if getattr(config, "multi_label", False):
        out["problem"] = "multi-label models are judged on their dev report only."
        return out
    try:
        from longbert.ui.evaluation import dev_set

        labels = list(dev_set(config)[1].labels)
        out["verdict"] = judge(config, _classify_with(labels), str(result.output_dir))
    except Exception as error:  # the model is saved either way; say why it was not compared
        out["problem"] = f"{type(error).__name__}: {error}"
    return out


def judged(result: Any) -> tuple[Verdict | None, str | None]:
    """The verdict and the problem from a job's result (None, None for anything else)."""
    if isinstance(result, Mapping):
        return result.get("verdict"), result.get("problem")
    return None, None
