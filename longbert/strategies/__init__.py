"""Long-input strategies: truncate, key sentences, chunk, sparse. One module each."""

from __future__ import annotations

from typing import Any

from longbert.errors import StrategyConfigError
from longbert.strategies.base import Mode, Selection, Strategy
from longbert.strategies.chunk import ChunkStrategy
from longbert.strategies.key_sentences import KeySentencesStrategy
from longbert.strategies.params import ParamInfo, StrategyParams
from longbert.strategies.sparse import SparseStrategy
from longbert.strategies.truncate import TruncateStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (TruncateStrategy, KeySentencesStrategy, ChunkStrategy, SparseStrategy)
}

StrategySpec = str | dict[str, Any] | Strategy


def parse_strategy(spec: StrategySpec, **overrides: Any) -> tuple[Strategy, dict[str, Any]]:
    """The strategy of a name, a ``{"name", "params"[, "model"]}`` dict or a Strategy, and the
    model settings the spec carried.

    A spec may name settings of the *model* to use with the strategy in its ``"model"`` object
    (chunk's ``pooling``, sparse's ``attention_window``): the app's forms pass overrides that
    way. Format-1 checkpoints, predictions stored before and older scripts kept the same two
    settings among the strategy's params; they are accepted there too. Both are checked as
    strictly as parameters and returned apart (``{"pooling": "max"}``), for the model; the
    strategy never holds them. ``overrides`` are parameters that replace the spec's.
    """
    model_section: Any = {}
    if isinstance(spec, Strategy):
        if not overrides:
            return spec, {}
        name, params = spec.name, dict(spec.params)
    elif isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict):
        name, params = spec.get("name"), dict(spec.get("params") or {})
        model_section = spec.get("model") or {}
    else:
        raise StrategyConfigError(f"A strategy is a name or a dict, not {type(spec).__name__}.")
    if name not in STRATEGIES:
        raise StrategyConfigError(f"Unknown strategy '{name}'. Choose one of: {', '.join(STRATEGIES)}.")
    cls = STRATEGIES[name]
    values = {**params, **overrides}
    model = {key: values.pop(key) for key in cls.model_params if key in values}
    if not isinstance(model_section, dict) or set(model_section) - set(cls.model_params):
        known = ", ".join(cls.model_params) or "none"
        raise StrategyConfigError(
            f"Strategy '{name}': model settings {model_section!r} are not ones it uses (known: {known})."
        )
    strategy = cls(**values)
    return strategy, cls.check_model_params({**model, **model_section}, strategy.params)


def get_strategy(spec: StrategySpec, **overrides: Any) -> Strategy:
    """The strategy of a spec (see :func:`parse_strategy`; model settings in it are checked and
    left to the caller), or a Strategy as is."""
    return parse_strategy(spec, **overrides)[0]


__all__ = [
    "STRATEGIES",
    "ChunkStrategy",
    "KeySentencesStrategy",
    "Mode",
    "ParamInfo",
    "Selection",
    "SparseStrategy",
    "Strategy",
    "StrategyParams",
    "StrategySpec",
    "TruncateStrategy",
    "get_strategy",
    "parse_strategy",
]
