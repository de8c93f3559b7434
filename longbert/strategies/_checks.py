"""Parameter checks shared by the strategies: each error names the strategy and the parameter.

Parameters are plain JSON values, so an integer parameter must be a Python ``int`` (``bool`` is
refused even though it is an ``int`` subclass: ``True`` as a window size is a bug, not a 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from longbert.errors import StrategyConfigError


def check_int(strategy: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high]`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be an integer, "
            f"got {value!r} ({type(value).__name__})."
        )
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise StrategyConfigError(f"Strategy '{strategy}': parameter '{name}' must be {bound}, got {value}.")
    return value


def check_float(strategy: str, name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float strictly inside ``(low, high)``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be a number, "
            f"got {value!r} ({type(value).__name__})."
        )
    if not low < float(value) < high:
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be strictly between {low} and "
            f"{high}, got {value}."
        )
    return float(value)


def check_choice(strategy: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` as one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be one of "
            f"{', '.join(repr(c) for c in choices)}, got {value!r}."
        )
    return value


def check_bool(strategy: str, name: str, value: Any) -> bool:
    """``value`` as a bool (only ``True``/``False``: ``"false"`` or ``0`` are mistakes)."""
    if not isinstance(value, bool):
        raise StrategyConfigError(
            f"Strategy '{strategy}': parameter '{name}' must be true or false, got {value!r}."
        )
    return value
