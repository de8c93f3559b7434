"""Long-input strategies: truncate, key sentences, chunk, sparse. One module each."""

from __future__ import annotations

from typing import Any

from longbert.errors import StrategyConfigError
from longbert.strategies.base import Encoded, Mode, Strategy
from longbert.strategies.chunk import ChunkStrategy
from longbert.strategies.key_sentences import KeySentencesStrategy
from longbert.strategies.sparse import SparseStrategy
from longbert.strategies.truncate import TruncateStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (TruncateStrategy, KeySentencesStrategy, ChunkStrategy, SparseStrategy)
}


def get_strategy(spec: str | dict[str, Any] | Strategy, **overrides: Any) -> Strategy:
    """Build a strategy from a name, a ``{"name", "params"}`` dict, or return one as is."""
    if isinstance(spec, Strategy):
        if not overrides:
            return spec
        return type(spec)(**{**spec.params, **overrides})
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict):
        name, params = spec.get("name"), dict(spec.get("params") or {})
    else:
        raise StrategyConfigError(f"A strategy is a name or a dict, not {type(spec).__name__}.")
    if name not in STRATEGIES:
        raise StrategyConfigError(f"Unknown strategy '{name}'. Choose one of: {', '.join(STRATEGIES)}.")
    return STRATEGIES[name](**{**params, **overrides})


__all__ = [
    "STRATEGIES",
    "ChunkStrategy",
    "Encoded",
    "KeySentencesStrategy",
    "Mode",
    "SparseStrategy",
    "Strategy",
    "TruncateStrategy",
    "get_strategy",
]
