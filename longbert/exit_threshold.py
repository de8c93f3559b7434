"""The early-exit threshold a prediction runs at (models compressed with ``--method early-exit``).

Checked once where prediction and explanation start (:func:`check_exit_threshold`), so that a
value outside 0..1 never reaches the exit loop: there 2, 1e9 or inf sent every row out at the
first layer (labels changed silently), -1 ran the full model recorded as -1.0, NaN was recorded
as nan and True was taken as 1.0. :func:`threshold_in_force` is what a prediction records.

This module imports no model code: the classifier, ``predict``, ``explain`` and the commands
all use it without an import cycle.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from longbert.errors import LongBertError

#: What the threshold is, for the error messages and the commands' help.
MEANING = "a normalised prediction entropy: 0 runs the full model, 1 lets almost every text leave at layer 1"


class ExitThresholdError(LongBertError, ValueError):
    """An exit threshold that is not a number from 0 to 1. A ValueError, as ``predict``'s other
    bad arguments; a LongBertError, so that a command prints it as one ``error:`` line."""


def check_exit_threshold(value: object, name: str = "exit_threshold") -> float | None:
    """``value`` as a float in [0, 1], or None (the model's own threshold) for None.

    A bool (``True`` would read as 1.0), text (``"0.5"`` is refused too: a caller passing text
    has not parsed its input), NaN, infinities and numbers outside [0, 1] raise
    :class:`ExitThresholdError` naming ``name`` (the parameter or option given).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ExitThresholdError(
            f"{name} must be a number from 0 to 1 ({MEANING}), not {type(value).__name__} {value!r}."
        )
    threshold = float(value)
    if not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise ExitThresholdError(f"{name} must be a number from 0 to 1 ({MEANING}); got {value!r}.")
    return threshold


def has_exits(classifier: Any) -> bool:
    """Whether ``classifier`` carries early exits (an ``early_exit`` submodule)."""
    return getattr(classifier, "early_exit", None) is not None


def threshold_in_force(classifier: Any, exit_threshold: float | None) -> float | None:
    """The threshold a prediction of ``classifier`` runs at: the call's (already checked), else
    the model's stored one; None for a model without exits (it always runs every layer)."""
    exits = getattr(classifier, "early_exit", None)
    if exits is None:
        return None
    return float(exits.threshold if exit_threshold is None else exit_threshold)


def no_exits_message(model_name: str, threshold: float) -> str:
    """Why a threshold given for a model without exits changes nothing (worded for the library
    and the commands alike)."""
    return (
        f"The exit threshold {threshold:g} has no effect: model '{model_name}' has no early "
        "exits (only a model made with `python -m longbert.compress --method early-exit` has "
        "them), so it runs every layer."
    )


def warn_if_no_exits(classifier: Any, exit_threshold: float | None, stacklevel: int = 3) -> None:
    """A UserWarning when a threshold is given to a model it cannot apply to: accepted (a script
    may run one threshold over many models) but said, rather than silently ignored.
    ``stacklevel``: the frame the warning points at, counted from this function's caller (1)."""
    if exit_threshold is not None and not has_exits(classifier):
        name = str(getattr(classifier, "name", "") or "this model")
        warnings.warn(no_exits_message(name, exit_threshold), UserWarning, stacklevel=stacklevel + 1)


def recorded_threshold(value: Any) -> float | None:
    """A prediction's recorded ``extra["exit_threshold"]`` as the threshold it ran at, from 0 to
    1; None where none is recorded (a model without exits, a prediction saved before thresholds
    were recorded, or a value that is no number).

    Older versions recorded a threshold as given, out of range included, and the store keeps NaN
    as the text ``"nan"``; each is read as what it did: at or below 0 (or NaN: no row ever left
    early) the full model, 0; above 1 every row leaving at the first exit, as at 1. History, the
    store's exports and the "Why this label" section all read it here, so they agree."""
    if value is None or isinstance(value, bool):
        return None
    try:
        threshold = float(value)  # a number or its text ("nan"); anything else is none
    except (TypeError, ValueError):
        return None
    if math.isnan(threshold) or threshold <= 0:
        return 0.0
    return min(threshold, 1.0)
